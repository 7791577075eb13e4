"""Drives a running Steward with the official OpenAI Python SDK (run by tests/tests/python_sdk.rs).

Environment: STEWARD_BASE_URL (…/v1), STEWARD_KEY, STEWARD_PROJECT (funded, allows local/echo),
STEWARD_TIGHT_PROJECT (a daily budget that fits exactly one call). Exits non-zero on the first
mismatch, printing what differed.
"""
import os
import sys

import openai

base, key = os.environ["STEWARD_BASE_URL"], os.environ["STEWARD_KEY"]
client = openai.OpenAI(base_url=base, api_key=key,
                       default_headers={"X-Steward-Project": os.environ["STEWARD_PROJECT"]}, max_retries=0)


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


chat = client.chat.completions.create(model="local/echo", max_tokens=100,
                                      messages=[{"role": "user", "content": "hello from python"}])
check(chat.choices[0].message.content == "echo: hello from python", f"chat answer {chat.choices[0].message.content!r}")
check(chat.usage is not None and chat.usage.completion_tokens > 0, "chat usage")
receipt = chat.model_extra.get("x_steward") or {}
check(receipt.get("payment", {}).get("status") == "committed", f"chat receipt {receipt}")

pieces, usage, final = [], None, None
for chunk in client.chat.completions.create(model="local/echo", max_tokens=100, stream=True,
                                             messages=[{"role": "user", "content": "stream me"}]):
    for choice in chunk.choices:
        if choice.delta.content:
            pieces.append(choice.delta.content)
    if chunk.usage is not None:
        usage, final = chunk.usage, chunk
check("".join(pieces) == "echo: stream me", f"streamed text {''.join(pieces)!r}")
check(usage is not None and usage.completion_tokens > 0, "streamed usage")
check((final.model_extra or {}).get("x_steward", {}).get("payment", {}).get("status") == "committed", "stream receipt")

emb = client.embeddings.create(model="local/echo", input=["one", "two"])
check(len(emb.data) == 2 and len(emb.data[0].embedding) > 0, "embeddings")

ids = [m.id for m in client.models.list()]
check(ids == ["local/echo"], f"models {ids}")

tight = openai.OpenAI(base_url=base, api_key=key, max_retries=0,
                      default_headers={"X-Steward-Project": os.environ["STEWARD_TIGHT_PROJECT"]})
tight.chat.completions.create(model="local/echo", messages=[{"role": "user", "content": "x"}])
try:
    tight.chat.completions.create(model="local/echo", messages=[{"role": "user", "content": "x"}])
    check(False, "the second call on the tight budget is refused")
except openai.APIStatusError as e:
    check(e.status_code == 403 and e.code == "DAILY_BUDGET_EXCEEDED", f"budget refusal {e.status_code} {e.code}")

try:
    client.chat.completions.create(model="local/nope", messages=[{"role": "user", "content": "x"}])
    check(False, "an unknown model is refused")
except openai.NotFoundError as e:
    check(e.code == "MODEL_NOT_FOUND", f"unknown model {e.code}")
print("all OpenAI SDK checks passed")
