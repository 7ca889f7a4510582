// Procedure numbers of the remote program (remote_procedure in src/remote/remote_protocol.x) —
// only the ones this driver calls. The numbers are wire ABI and never change.
export const Proc = {
  CONNECT_OPEN: 1,
  CONNECT_CLOSE: 2,
  CONNECT_GET_TYPE: 3,
  CONNECT_GET_VERSION: 4,
  NODE_GET_INFO: 6,
  DOMAIN_GET_XML_DESC: 14,
  DOMAIN_GET_INFO: 16,
  DOMAIN_LOOKUP_BY_NAME: 23,
  DOMAIN_LOOKUP_BY_UUID: 24,
  DOMAIN_RESUME: 28,
  DOMAIN_SHUTDOWN: 33,
  DOMAIN_SUSPEND: 34,
  CONNECT_GET_CAPABILITIES: 7,
  CONNECT_GET_HOSTNAME: 59,
  CONNECT_SUPPORTS_FEATURE: 60,
  AUTH_LIST: 66,
  STORAGE_POOL_DEFINE_XML: 77,
  STORAGE_POOL_CREATE: 78,
  STORAGE_POOL_BUILD: 79,
  STORAGE_POOL_REFRESH: 83,
  STORAGE_POOL_LOOKUP_BY_NAME: 84,
  STORAGE_POOL_GET_INFO: 87,
  STORAGE_POOL_SET_AUTOSTART: 90,
  STORAGE_POOL_NUM_OF_VOLUMES: 91,
  STORAGE_POOL_LIST_VOLUMES: 92,
  STORAGE_VOL_CREATE_XML: 93,
  STORAGE_VOL_DELETE: 94,
  STORAGE_VOL_LOOKUP_BY_NAME: 95,
  STORAGE_VOL_GET_INFO: 98,
  STORAGE_VOL_GET_PATH: 100,
  CONNECT_GET_LIB_VERSION: 157,
  DOMAIN_ABORT_JOB: 164,
  DOMAIN_CREATE_WITH_FLAGS: 196,
  /** Writes a volume's bytes through an RPC stream (the call's serial is the stream's). */
  STORAGE_VOL_UPLOAD: 208,
  STORAGE_VOL_DOWNLOAD: 209,
  DOMAIN_GET_STATE: 212,
  NODE_GET_CPU_STATS: 227,
  NODE_GET_MEMORY_STATS: 228,
  DOMAIN_UNDEFINE_FLAGS: 231,
  DOMAIN_DESTROY_FLAGS: 234,
  DOMAIN_BLOCK_RESIZE: 251,
  DOMAIN_SHUTDOWN_FLAGS: 258,
  STORAGE_VOL_RESIZE: 260,
  DOMAIN_SET_METADATA: 264,
  DOMAIN_GET_METADATA: 265,
  CONNECT_LIST_ALL_DOMAINS: 273,
  DOMAIN_GET_JOB_STATS: 298,
  DOMAIN_MIGRATE_PERFORM3_PARAMS: 305,
  CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY: 316,
  CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY: 317,
  DOMAIN_EVENT_CALLBACK_LIFECYCLE: 318,
  CONNECT_GET_ALL_DOMAIN_STATS: 344,
  DOMAIN_DEFINE_XML_FLAGS: 350,
  DOMAIN_INTERFACE_ADDRESSES: 353,
} as const;

/** virDrvFeature values asked with CONNECT_SUPPORTS_FEATURE. */
export const Feature = {
  MIGRATION_P2P: 4,
  MIGRATION_V3: 6,
  TYPED_PARAM_STRING: 9,
  /** Asking for this also tells the daemon to start pinging us. */
  PROGRAM_KEEPALIVE: 10,
  MIGRATION_PARAMS: 13,
} as const;

/** remote_auth_type */
export const AuthType = { None: 0, Sasl: 1, Polkit: 2 } as const;

/** virDomainState */
export const DomainState = { NoState: 0, Running: 1, Blocked: 2, Paused: 3, Shutdown: 4, Shutoff: 5, Crashed: 6, PmSuspended: 7 } as const;

/** virDomainEventType (lifecycle events) */
export const LifecycleEvent = { Defined: 0, Undefined: 1, Started: 2, Suspended: 3, Resumed: 4, Stopped: 5, Shutdown: 6, PmSuspended: 7, Crashed: 8 } as const;
/** VIR_DOMAIN_EVENT_STARTED_MIGRATED / VIR_DOMAIN_EVENT_STOPPED_* details that matter to us */
export const StartedDetail = { Booted: 0, Migrated: 1 } as const;
/** VIR_DOMAIN_EVENT_SUSPENDED_* details: the pause at a migration's switch-over is not the user's. */
export const SuspendedDetail = { Paused: 0, Migrated: 1, PostCopy: 7 } as const;
export const StoppedDetail = { Shutdown: 0, Destroyed: 1, Crashed: 2, Migrated: 3, Saved: 4, Failed: 5 } as const;

/** virDomainEventID */
export const EventId = { Lifecycle: 0 } as const;

/** virDomainMetadataType and virDomainModificationImpact */
export const MetadataType = { Description: 0, Title: 1, Element: 2 } as const;
export const Affect = { Current: 0, Live: 1, Config: 2 } as const;

/** Flags of the calls we make. */
export const Flags = {
  DEFINE_VALIDATE: 1,
  UNDEFINE_MANAGED_SAVE: 1,
  UNDEFINE_SNAPSHOTS_METADATA: 2,
  UNDEFINE_NVRAM: 4,
  UNDEFINE_CHECKPOINTS_METADATA: 16,
  SHUTDOWN_ACPI_POWER_BTN: 1,
  DESTROY_GRACEFUL: 1,
  XML_INACTIVE: 2,
  MIGRATE_LIVE: 1,
  MIGRATE_PEER2PEER: 2,
  MIGRATE_PERSIST_DEST: 8,
  MIGRATE_UNDEFINE_SOURCE: 16,
  /** Copy every disk (the whole backing chain, flattened) into volumes the destination makes. */
  MIGRATE_NON_SHARED_DISK: 64,
  MIGRATE_UNSAFE: 512,
  MIGRATE_OFFLINE: 1024,
} as const;

/** virDomainStatsTypes: the groups CONNECT_GET_ALL_DOMAIN_STATS returns. */
export const DomainStats = { State: 1, CpuTotal: 2, Balloon: 4 } as const;
/**
 * virConnectGetAllDomainStatsFlags: which domains (by state) CONNECT_GET_ALL_DOMAIN_STATS covers;
 * NoWait: what can be had without waiting for a domain's job (a migration, a monitor call).
 */
export const DomainStatsFlags = { Running: 16, Paused: 32, NoWait: 1 << 29 } as const;

/** virDomainJobType (DOMAIN_GET_JOB_STATS) */
export const JobType = { None: 0, Bounded: 1, Unbounded: 2, Completed: 3, Failed: 4, Cancelled: 5 } as const;
/** virDomainJobOperation: the job stats' "operation" field. */
export const JobOperation = { MigrationIn: 4, MigrationOut: 5 } as const;
/** virDomainGetJobStatsFlags: the last completed job's stats, and without discarding them. */
export const JobStatsFlags = { COMPLETED: 1, KEEP_COMPLETED: 2 } as const;
/** VIR_MIGRATE_PARAM_* typed parameter names of the migration calls we make. */
export const MigrateParam = { BANDWIDTH: "bandwidth" } as const;

/** virStoragePoolState (STORAGE_POOL_GET_INFO) */
export const PoolState = { Inactive: 0, Building: 1, Running: 2, Degraded: 3, Inaccessible: 4 } as const;

/** Flags of the storage calls we make. */
export const StorageFlags = {
  /** STORAGE_VOL_CREATE_XML: allocate only qcow2 metadata (a thin disk). */
  VOL_CREATE_PREALLOC_METADATA: 1,
  /** DOMAIN_BLOCK_RESIZE: the size is in bytes, not KiB. */
  BLOCK_RESIZE_BYTES: 1,
} as const;

/** virTypedParameterType */
export const TypedParam = { Int: 1, UInt: 2, LLong: 3, ULLong: 4, Double: 5, Boolean: 6, String: 7 } as const;
