//! Hypercall status codes (reference §2.5) as a raw [`HvStatus`] and a typed [`HvError`].

macro_rules! hv_errors {
    ($($(#[$doc:meta])* $name:ident = $code:literal,)*) => {
        /// A failed hypercall status: every non-zero code of the reference, plus `Unknown`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum HvError {
            $($(#[$doc])* $name,)*
            /// A status code the reference does not list.
            Unknown(u16),
        }

        impl HvError {
            /// Every named error, in code order (for exhaustive tests and fault injection).
            pub const ALL: &'static [HvError] = &[$(HvError::$name,)*];

            /// The status code (bits 15:0 of RAX).
            pub const fn code(self) -> u16 {
                match self {
                    $(HvError::$name => $code,)*
                    HvError::Unknown(code) => code,
                }
            }

            /// The error of a non-zero code; `None` for 0 (success).
            pub const fn from_code(code: u16) -> Option<Self> {
                match code {
                    0 => None,
                    $($code => Some(HvError::$name),)*
                    other => Some(HvError::Unknown(other)),
                }
            }

            /// The variant's name, e.g. `InvalidConnectionId` (HV_STATUS_INVALID_CONNECTION_ID).
            pub const fn name(self) -> &'static str {
                match self {
                    $(HvError::$name => stringify!($name),)*
                    HvError::Unknown(_) => "UNKNOWN",
                }
            }
        }
    };
}

hv_errors! {
    /// 0x0002: the call code is not implemented.
    InvalidHypercallCode = 0x0002,
    /// 0x0003: reserved bits set, bad rep count or a malformed input block.
    InvalidHypercallInput = 0x0003,
    /// 0x0004: an input or output block is misaligned.
    InvalidAlignment = 0x0004,
    /// 0x0005: a parameter is invalid.
    InvalidParameter = 0x0005,
    /// 0x0006: the caller lacks the privilege.
    AccessDenied = 0x0006,
    /// 0x0007: the partition is not in a valid state.
    InvalidPartitionState = 0x0007,
    /// 0x0008: the operation is denied.
    OperationDenied = 0x0008,
    /// 0x0009: unknown property.
    UnknownProperty = 0x0009,
    /// 0x000A: property value out of range.
    PropertyValueOutOfRange = 0x000A,
    /// 0x000B: insufficient memory (transient for HvPostMessage: retry).
    InsufficientMemory = 0x000B,
    /// 0x000C: partition too deep.
    PartitionTooDeep = 0x000C,
    /// 0x000D: invalid partition id.
    InvalidPartitionId = 0x000D,
    /// 0x000E: invalid VP index.
    InvalidVpIndex = 0x000E,
    /// 0x0010: not found.
    NotFound = 0x0010,
    /// 0x0011: invalid port id.
    InvalidPortId = 0x0011,
    /// 0x0012: invalid connection id.
    InvalidConnectionId = 0x0012,
    /// 0x0013: insufficient buffers (transient for HvPostMessage: retry).
    InsufficientBuffers = 0x0013,
    /// 0x0014: not acknowledged.
    NotAcknowledged = 0x0014,
    /// 0x0015: invalid VP state.
    InvalidVpState = 0x0015,
    /// 0x0016: acknowledged.
    Acknowledged = 0x0016,
    /// 0x0017: invalid save/restore state.
    InvalidSaveRestoreState = 0x0017,
    /// 0x0018: invalid SynIC state.
    InvalidSynicState = 0x0018,
    /// 0x0019: object in use.
    ObjectInUse = 0x0019,
    /// 0x001B: no data.
    NoData = 0x001B,
    /// 0x001C: inactive.
    Inactive = 0x001C,
    /// 0x001D: no resources.
    NoResources = 0x001D,
    /// 0x001E: feature unavailable.
    FeatureUnavailable = 0x001E,
    /// 0x001F: partial packet.
    PartialPacket = 0x001F,
    /// 0x0020: processor feature not supported.
    ProcessorFeatureNotSupported = 0x0020,
    /// 0x0033: insufficient buffer.
    InsufficientBuffer = 0x0033,
    /// 0x0041: invalid logical processor index.
    InvalidLpIndex = 0x0041,
    /// 0x0050: invalid register value.
    InvalidRegisterValue = 0x0050,
    /// 0x0051: invalid VTL state.
    InvalidVtlState = 0x0051,
    /// 0x0071: operation failed.
    OperationFailed = 0x0071,
    /// 0x0078: timeout.
    Timeout = 0x0078,
    /// 0x0079: call pending.
    CallPending = 0x0079,
    /// 0x0086: VTL already enabled.
    VtlAlreadyEnabled = 0x0086,
    /// 0x0087: unknown register name.
    UnknownRegisterName = 0x0087,
}

impl HvError {
    /// Whether HvPostMessage should be retried after a back-off (reference §2.6).
    pub const fn is_transient_for_post_message(self) -> bool {
        matches!(
            self,
            HvError::InsufficientBuffers | HvError::InsufficientMemory
        )
    }
}

impl core::fmt::Display for HvError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({:#06x})", self.name(), self.code())
    }
}

/// A raw hypercall status (bits 15:0 of the output value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HvStatus(pub u16);

impl HvStatus {
    /// HV_STATUS_SUCCESS.
    pub const SUCCESS: Self = Self(0);

    /// `Ok` for success, the typed error otherwise.
    pub const fn result(self) -> Result<(), HvError> {
        match HvError::from_code(self.0) {
            None => Ok(()),
            Some(error) => Err(error),
        }
    }

    /// The status of a typed result.
    pub const fn from_result(result: Result<(), HvError>) -> Self {
        match result {
            Ok(()) => Self::SUCCESS,
            Err(error) => Self(error.code()),
        }
    }
}

impl From<HvError> for HvStatus {
    fn from(error: HvError) -> Self {
        Self(error.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference table §2.5, copied by hand.
    const TABLE: &[(u16, &str)] = &[
        (0x0002, "InvalidHypercallCode"),
        (0x0003, "InvalidHypercallInput"),
        (0x0004, "InvalidAlignment"),
        (0x0005, "InvalidParameter"),
        (0x0006, "AccessDenied"),
        (0x0007, "InvalidPartitionState"),
        (0x0008, "OperationDenied"),
        (0x0009, "UnknownProperty"),
        (0x000A, "PropertyValueOutOfRange"),
        (0x000B, "InsufficientMemory"),
        (0x000C, "PartitionTooDeep"),
        (0x000D, "InvalidPartitionId"),
        (0x000E, "InvalidVpIndex"),
        (0x0010, "NotFound"),
        (0x0011, "InvalidPortId"),
        (0x0012, "InvalidConnectionId"),
        (0x0013, "InsufficientBuffers"),
        (0x0014, "NotAcknowledged"),
        (0x0015, "InvalidVpState"),
        (0x0016, "Acknowledged"),
        (0x0017, "InvalidSaveRestoreState"),
        (0x0018, "InvalidSynicState"),
        (0x0019, "ObjectInUse"),
        (0x001B, "NoData"),
        (0x001C, "Inactive"),
        (0x001D, "NoResources"),
        (0x001E, "FeatureUnavailable"),
        (0x001F, "PartialPacket"),
        (0x0020, "ProcessorFeatureNotSupported"),
        (0x0033, "InsufficientBuffer"),
        (0x0041, "InvalidLpIndex"),
        (0x0050, "InvalidRegisterValue"),
        (0x0051, "InvalidVtlState"),
        (0x0071, "OperationFailed"),
        (0x0078, "Timeout"),
        (0x0079, "CallPending"),
        (0x0086, "VtlAlreadyEnabled"),
        (0x0087, "UnknownRegisterName"),
    ];

    #[test]
    fn every_reference_code_maps_to_its_variant_and_back() {
        assert_eq!(HvError::ALL.len(), TABLE.len());
        for (code, name) in TABLE {
            let error = HvError::from_code(*code).unwrap();
            assert_eq!(error.name(), *name);
            assert_eq!(error.code(), *code);
            assert_eq!(HvStatus(*code).result(), Err(error));
            assert_eq!(HvStatus::from(error), HvStatus(*code));
        }
    }

    #[test]
    fn success_and_unknown_codes() {
        assert_eq!(HvStatus(0).result(), Ok(()));
        assert_eq!(HvError::from_code(0x0001), Some(HvError::Unknown(1)));
        assert_eq!(HvError::Unknown(0x1234).code(), 0x1234);
        assert_eq!(HvStatus::from_result(Err(HvError::Timeout)), HvStatus(0x78));
        assert!(HvError::InsufficientBuffers.is_transient_for_post_message());
        assert!(!HvError::InvalidConnectionId.is_transient_for_post_message());
    }
}
