#!/usr/bin/env bash
# make fuzz-api: schemathesis (pinned, in a venv this script makes) against a live `steward serve`
# on SQLite and on PostgreSQL, every operation of /openapi.json, three passes per backend (an
# admin key, a member key, a guest token), with the checks not_a_server_error,
# status_code_conformance, content_type_conformance and response_schema_conformance. Any failure
# fails the run. Bounded: examples per operation in the fuzzing phase (FUZZ_API_EXAMPLES, default 10) and a hard
# time limit per pass (FUZZ_API_PASS_SECS, default 300).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
venv=${FUZZ_API_VENV:-/var/tmp/steward-fuzz-venv}
examples=${FUZZ_API_EXAMPLES:-10}
pass_secs=${FUZZ_API_PASS_SECS:-300}
pg_admin=${STEWARD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
out=${FUZZ_API_OUT:-$target/fuzz-api}
mkdir -p "$out"

if ! cmp -s <("$venv/bin/pip" freeze 2>/dev/null | sort -f) <(grep -v '^#' scripts/fuzz/requirements.txt | sort -f); then
    echo "installing schemathesis into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r scripts/fuzz/requirements.txt
fi
cargo build -q --bin steward
# The server reads STEWARD_* variables as settings; give it none of the caller's (CI sets
# STEWARD_REQUIRE_POSTGRES for the tests). `env` execs the binary, so `$!` is the server itself.
read -r -a clean_env <<<"env $(env | sed -n 's/^\(STEWARD_[A-Za-z0-9_]*\)=.*/-u \1/p' | tr '\n' ' ')"
steward=("${clean_env[@]}" "$target/debug/steward")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

server=""
work=""
pg_db=""
cleanup() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    [ -n "$pg_db" ] && psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
    [ -n "$work" ] && rm -rf "$work"
    server="" pg_db="" work=""
}
trap cleanup EXIT

failed=0
for backend in ${FUZZ_API_BACKENDS:-sqlite postgres}; do
    work=$(mktemp -d)
    case $backend in
        sqlite) url="sqlite://$work/steward.db" ;;
        postgres)
            pg_db="steward_fuzz_$$"
            psql -q "$pg_admin" -c "CREATE DATABASE $pg_db" >/dev/null
            url="${pg_admin%/*}/$pg_db"
            ;;
    esac
    port=$(free_port)
    cat > "$work/steward.toml" <<TOML
[server]
port = $port
workers = 2
shutdown_timeout_secs = 5

[database]
url = "$url"

[telemetry]
filter = "warn"

[[payments.methods]]
kind = "easypaisa"
account_number = "0300-1234567"
holder_name = "Steward Fuzz Farms"
TOML
    cfg=(--config "$work/steward.toml")
    "${steward[@]}" "${cfg[@]}" migrate >/dev/null
    "${steward[@]}" "${cfg[@]}" demo --key-file "$work/demo-admin.key" >/dev/null
    admin_key=$(cat "$work/demo-admin.key")
    member_key=$(cat "$work/demo-member.key")
    "${steward[@]}" "${cfg[@]}" serve >"$out/server-$backend.log" 2>&1 &
    server=$!
    base="http://127.0.0.1:$port"
    for _ in $(seq 1 100); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
    guest_token=$(curl -fsS -X POST "$base/api/v1/chat/sessions" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

    for pass in admin member guest; do
        case $pass in
            admin) token=$admin_key config=scripts/fuzz/schemathesis.toml ;;
            member) token=$member_key config=scripts/fuzz/schemathesis.toml ;;
            guest) token=$guest_token config=scripts/fuzz/schemathesis-guest.toml ;;
        esac
        # A key is refused (403, which the missing-auth warning flags) by the guest-only routes;
        # a member key by the admin-only ones too. The guest pass keeps every route.
        filters=()
        case $pass in
            admin) filters=(--exclude-path-regex '^/api/v1/chat/(session|history|messages|images)$') ;;
            member) filters=(--exclude-tag admin --exclude-path-regex \
                '^/api/v1/(chat/(session|history|messages|images)|users(/.*)?|system-policy|audit|audit/verify|bookings/[{]reference[}]/(status|history)|providers/[{]name[}]|properties/[{]id[}]/media/[{]media_id[}])$') ;;
        esac
        echo "=== schemathesis: $backend, $pass"
        set +e
        HYPOTHESIS_STORAGE_DIRECTORY="$out/.hypothesis" NO_PROXY=127.0.0.1,localhost \
        timeout --kill-after=15 "$pass_secs" "$venv/bin/schemathesis" --no-color --config-file "$config" run \
            "$base/openapi.json" --url "$base" \
            --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
            -H "Authorization: Bearer $token" \
            --phases examples,coverage,fuzzing --max-examples "$examples" --seed 20261129 --workers 1 \
            --request-timeout 10 --request-retries 0 --suppress-health-check all --generation-database none \
            --wait-for-schema 30 --report junit --report-junit-path "$out/junit-$backend-$pass.xml" \
            "${filters[@]}" >"$out/$backend-$pass.log" 2>&1
        rc=$?
        set -e
        sed -n '/^=* *\(FAILURES\|ERRORS\|WARNINGS\|SUMMARY\)/,$p' "$out/$backend-$pass.log" | tail -n 60
        if [ "$rc" -ne 0 ]; then
            echo "schemathesis $backend/$pass failed (exit $rc); full log: $out/$backend-$pass.log"
            failed=1
        fi
    done
    cleanup
done
exit $failed
