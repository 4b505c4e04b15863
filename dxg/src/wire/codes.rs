//! Command numbers (dxg.md §2.5).

/// Declares a command enum from rows `WIRENAME: RustName = number,` (the wire name, as the
/// reference spells it, becomes the variant's documentation).
macro_rules! command_enum {
    ($(#[$meta:meta])* $name:ident { $($wire:ident: $variant:ident = $value:expr,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u32)]
        pub enum $name {
            $(#[doc = stringify!($wire)] $variant = $value,)*
        }
        impl $name {
            /// Every defined command, in numeric order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];
            /// The command for a wire number, if defined.
            pub const fn from_u32(value: u32) -> Option<Self> {
                match value {
                    $($value => Some($name::$variant),)*
                    _ => None,
                }
            }
            /// The wire number.
            pub const fn as_u32(self) -> u32 {
                self as u32
            }
        }
    };
}

command_enum! {
    /// Per-vGPU commands (`dxgkvmb_commandtype`), 0–68; 63 is unassigned.
    VgpuCommand {
        CREATEDEVICE: CreateDevice = 0,
        DESTROYDEVICE: DestroyDevice = 1,
        QUERYADAPTERINFO: QueryAdapterInfo = 2,
        DDIQUERYADAPTERINFO: DdiQueryAdapterInfo = 3,
        CREATEALLOCATION: CreateAllocation = 4,
        DESTROYALLOCATION: DestroyAllocation = 5,
        CREATECONTEXTVIRTUAL: CreateContextVirtual = 6,
        DESTROYCONTEXT: DestroyContext = 7,
        CREATESYNCOBJECT: CreateSyncObject = 8,
        CREATEPAGINGQUEUE: CreatePagingQueue = 9,
        DESTROYPAGINGQUEUE: DestroyPagingQueue = 10,
        MAKERESIDENT: MakeResident = 11,
        EVICT: Evict = 12,
        ESCAPE: Escape = 13,
        OPENADAPTER: OpenAdapter = 14,
        CLOSEADAPTER: CloseAdapter = 15,
        FREEGPUVIRTUALADDRESS: FreeGpuVirtualAddress = 16,
        MAPGPUVIRTUALADDRESS: MapGpuVirtualAddress = 17,
        RESERVEGPUVIRTUALADDRESS: ReserveGpuVirtualAddress = 18,
        UPDATEGPUVIRTUALADDRESS: UpdateGpuVirtualAddress = 19,
        SUBMITCOMMAND: SubmitCommand = 20,
        QUERYVIDEOMEMORYINFO: QueryVideoMemoryInfo = 21,
        WAITFORSYNCOBJECTFROMCPU: WaitForSyncObjectFromCpu = 22,
        LOCK2: Lock2 = 23,
        UNLOCK2: Unlock2 = 24,
        WAITFORSYNCOBJECTFROMGPU: WaitForSyncObjectFromGpu = 25,
        SIGNALSYNCOBJECT: SignalSyncObject = 26,
        SIGNALFENCENTSHAREDBYREF: SignalFenceNtSharedByRef = 27,
        GETDEVICESTATE: GetDeviceState = 28,
        MARKDEVICEASERROR: MarkDeviceAsError = 29,
        ADAPTERSTOP: AdapterStop = 30,
        SETQUEUEDLIMIT: SetQueuedLimit = 31,
        OPENRESOURCE: OpenResource = 32,
        SETCONTEXTSCHEDULINGPRIORITY: SetContextSchedulingPriority = 33,
        PRESENTHISTORYTOKEN: PresentHistoryToken = 34,
        SETREDIRECTEDFLIPFENCEVALUE: SetRedirectedFlipFenceValue = 35,
        GETINTERNALADAPTERINFO: GetInternalAdapterInfo = 36,
        FLUSHHEAPTRANSITIONS: FlushHeapTransitions = 37,
        BLT: Blt = 38,
        DDIGETSTANDARDALLOCATIONDRIVERDATA: DdiGetStandardAllocationDriverData = 39,
        CDDGDICOMMAND: CddGdiCommand = 40,
        QUERYALLOCATIONRESIDENCY: QueryAllocationResidency = 41,
        FLUSHDEVICE: FlushDevice = 42,
        FLUSHADAPTER: FlushAdapter = 43,
        DDIGETNODEMETADATA: DdiGetNodeMetadata = 44,
        SETEXISTINGSYSMEMSTORE: SetExistingSysmemStore = 45,
        ISSYNCOBJECTSIGNALED: IsSyncObjectSignaled = 46,
        CDDSYNCGPUACCESS: CddSyncGpuAccess = 47,
        QUERYSTATISTICS: QueryStatistics = 48,
        CHANGEVIDEOMEMORYRESERVATION: ChangeVideoMemoryReservation = 49,
        CREATEHWQUEUE: CreateHwQueue = 50,
        DESTROYHWQUEUE: DestroyHwQueue = 51,
        SUBMITCOMMANDTOHWQUEUE: SubmitCommandToHwQueue = 52,
        GETDRIVERSTOREFILE: GetDriverStoreFile = 53,
        READDRIVERSTOREFILE: ReadDriverStoreFile = 54,
        GETNEXTHARDLINK: GetNextHardLink = 55,
        UPDATEALLOCATIONPROPERTY: UpdateAllocationProperty = 56,
        OFFERALLOCATIONS: OfferAllocations = 57,
        RECLAIMALLOCATIONS: ReclaimAllocations = 58,
        SETALLOCATIONPRIORITY: SetAllocationPriority = 59,
        GETALLOCATIONPRIORITY: GetAllocationPriority = 60,
        GETCONTEXTSCHEDULINGPRIORITY: GetContextSchedulingPriority = 61,
        QUERYCLOCKCALIBRATION: QueryClockCalibration = 62,
        QUERYRESOURCEINFO: QueryResourceInfo = 64,
        LOGEVENT: LogEvent = 65,
        SETEXISTINGSYSMEMPAGES: SetExistingSysmemPages = 66,
        INVALIDATECACHE: InvalidateCache = 67,
        ISFEATUREENABLED: IsFeatureEnabled = 68,
    }
}

command_enum! {
    /// Global-channel commands (`dxgkvmb_commandtype_global`).
    GlobalCommand {
        CREATEPROCESS: CreateProcess = 1000,
        DESTROYPROCESS: DestroyProcess = 1001,
        OPENSYNCOBJECT: OpenSyncObject = 1002,
        DESTROYSYNCOBJECT: DestroySyncObject = 1003,
        CREATENTSHAREDOBJECT: CreateNtSharedObject = 1004,
        DESTROYNTSHAREDOBJECT: DestroyNtSharedObject = 1005,
        SIGNALFENCE: SignalFence = 1006,
        NOTIFYPROCESSFREEZE: NotifyProcessFreeze = 1007,
        NOTIFYPROCESSTHAW: NotifyProcessThaw = 1008,
        QUERYETWSESSION: QueryEtwSession = 1009,
        SETIOSPACEREGION: SetIoSpaceRegion = 1010,
        COMPLETETRANSACTION: CompleteTransaction = 1011,
        SHAREOBJECTWITHHOST: ShareObjectWithHost = 1021,
        ISFEATUREENABLED_GLOBAL: IsFeatureEnabledGlobal = 1022,
    }
}

command_enum! {
    /// Host→guest notifications (`dxgkvmb_commandtype_host_to_vm`).
    HostToGuestCommand {
        SIGNALGUESTEVENT: SignalGuestEvent = 0,
        PROPAGATEPRESENTHISTORYTOKEN: PropagatePresentHistoryToken = 1,
        SETGUESTDATA: SetGuestData = 2,
        SIGNALGUESTEVENTPASSIVE: SignalGuestEventPassive = 3,
        SENDWNFNOTIFICATION: SendWnfNotification = 4,
    }
}

/// A guest→host command number of either channel: the one value a call site names to build a
/// command (the header, the transaction record and error reports all take it from there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandCode {
    /// A per-vGPU command.
    Vgpu(VgpuCommand),
    /// A global (VM-wide) command.
    Global(GlobalCommand),
}

impl CommandCode {
    /// The command for a wire number of either channel (the vGPU numbers are 0–68, the global
    /// ones from 1000), if defined.
    pub fn from_u32(value: u32) -> Option<Self> {
        VgpuCommand::from_u32(value)
            .map(Self::Vgpu)
            .or_else(|| GlobalCommand::from_u32(value).map(Self::Global))
    }

    /// The wire number.
    pub const fn as_u32(self) -> u32 {
        match self {
            Self::Vgpu(command) => command.as_u32(),
            Self::Global(command) => command.as_u32(),
        }
    }
}

impl From<VgpuCommand> for CommandCode {
    fn from(command: VgpuCommand) -> Self {
        Self::Vgpu(command)
    }
}

impl From<GlobalCommand> for CommandCode {
    fn from(command: GlobalCommand) -> Self {
        Self::Global(command)
    }
}

/// `channel_type` values of the command header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ChannelType {
    /// `DXGKVMB_VGPU_TO_HOST`
    VgpuToHost = 0,
    /// `DXGKVMB_VM_TO_HOST`
    VmToHost = 1,
    /// `DXGKVMB_HOST_TO_VM`
    HostToVm = 2,
}
