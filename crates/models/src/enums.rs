//! Enums stored as text and sent as snake_case on the wire.

/// Declares a text-backed enum with `as_str`, `FromStr`, `ALL`, and serde using the same text.
#[macro_export]
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name { $($(#[$vmeta])* #[serde(rename = $text)] $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and wire form.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::UnknownVariant {
                        kind: stringify!($name),
                        value: other.to_string(),
                        expected: &[$($text),+],
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum! {
    /// What a platform user or key may do.
    Role {
        /// Everything, including other users.
        Admin => "admin",
        /// Owns properties in the booking desk.
        Owner => "owner",
        /// A gateway customer.
        Member => "member",
        /// A website that embeds the guest chat.
        Website => "website",
    }
}

text_enum! {
    /// Platform user account status; only `active` users authenticate.
    UserStatus {
        /// In good standing.
        Active => "active",
        /// Temporarily blocked by an admin.
        Suspended => "suspended",
        /// Closed by the user.
        Inactive => "inactive",
        /// Funds frozen.
        Frozen => "frozen",
        /// Permanently blocked.
        Banned => "banned",
    }
}

text_enum! {
    /// API key status.
    KeyStatus {
        /// Usable until it expires.
        Active => "active",
        /// Revoked; never usable again.
        Revoked => "revoked",
    }
}

text_enum! {
    /// Who performed an audited action.
    ActorType {
        /// A booking-desk guest.
        Guest => "guest",
        /// A platform user acting with a non-admin key.
        User => "user",
        /// An AI agent.
        Agent => "agent",
        /// A platform admin.
        Admin => "admin",
        /// Steward itself (jobs, CLI).
        System => "system",
    }
}

text_enum! {
    /// Outcome of an audited action.
    AuditResult {
        /// It happened.
        Success => "success",
        /// It was attempted and failed.
        Failure => "failure",
        /// It was refused by a rule.
        Denied => "denied",
    }
}

text_enum! {
    /// State of an idempotency record.
    IdempotencyState {
        /// The first request with this key is still running.
        InFlight => "in_flight",
        /// The response is stored for replay.
        Completed => "completed",
    }
}
