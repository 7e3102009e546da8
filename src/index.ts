/**
 * db-hydration: keep SQLite databases out of Git. The public API; importing it has no side effects.
 * @packageDocumentation
 */
export {
  DBHydrationManager,
  peekHeader,
  targetFileName,
  type ArchiveStat,
  type ArchiveStats,
  type DatabaseResult,
  type DehydrateAllOptions,
  type DehydrationResult,
  type HydrateAllOptions,
  type HydratedDatabase,
  type HydrationManagerOptions,
  type HydrationResult,
  type SyncAction,
  type SyncAllOptions,
  type SyncedDatabase,
  type SyncResult,
  type MigrateAllOptions,
  type MigratedDatabase,
  type MigrationResult,
  type RekeyOptions,
  type RekeyResult,
  type RekeyedArchive,
  type PushOptions,
  type PushResult,
  type PushedArchive,
  type PullOptions,
  type PullResult,
  type PulledArchive,
  type RemoteOptions,
} from './manager.js';
export type { ProgressEvent, ProgressListener } from './progress.js';
export {
  readMigrationsDir,
  parseMigration,
  migrationChecksum,
  migrationsDirFor,
  MigrationsReader,
  type Migration,
  type MigrationDirectives,
} from './migrate/migrations-dir.js';
export {
  DEFAULT_MIGRATIONS_TABLE,
  readLedger,
  type LedgerEntry,
  type LedgerState,
} from './migrate/ledger.js';
export { planMigrations, type MigrationPlan, type PlanContext } from './migrate/plan-migrations.js';
export { planFor, applyPlan, applyMigration, migrateDatabase } from './migrate/apply-migrations.js';
export {
  HydrationError,
  ArchiveFormatError,
  ArchiveChangedError,
  ArchiveNameError,
  ArchiveSchemaError,
  ArchiveValueError,
  ArchiveEncryptionError,
  DatabaseReadError,
  DatabaseWriteError,
  PathError,
  DatabaseLockedError,
  ConfigError,
  UsageError,
  GitError,
  MigrationError,
  RemoteError,
  type ErrorContext,
  type ErrorDetail,
  type HydrationErrorCode,
} from './errors.js';
export {
  encodeValue,
  decodeValue,
  TextBytes,
  type SqliteValue,
  type DecodedValue,
} from './codec/value-codec.js';
export { readArchive, type ArchiveEvent } from './archive/read-archive.js';
export type { RejectedRow } from './hydrate/import-rows.js';
export {
  ARCHIVE_FORMAT,
  ARCHIVE_FORMAT_VERSION,
  type ArchiveFooter,
  type ArchiveHeader,
  type ArchiveObject,
  type ArchivePragmas,
  type ArchiveTableMeta,
} from './archive/format.js';
export type { Manifest, ManifestEntry, ManifestTableEntry } from './manifest/manifest.js';
export {
  checkDatabase,
  isDbValid,
  type CheckDatabaseOptions,
  type DatabaseCheck,
  type DatabaseStatus,
  type NotSqliteKind,
} from './integrity/classify-database.js';
export { quarantinePathFor } from './integrity/quarantine.js';
export { type FixAction, type FixDetail, type FixResult, type FixTarget } from './integrity/fix-databases.js';
export type { SalvageOutcome, TableSalvage } from './integrity/salvage-rows.js';
export {
  loadConfig,
  checkConfig,
  CONFIG_FILE,
  PACKAGE_JSON_KEY,
  type HydrationConfig,
  type LoadConfigOptions,
  type LoadedConfig,
  type EncryptionSettings,
  type DatabaseSettings,
  type Compression,
} from './config/load-config.js';
export type { PassphraseProvider, PassphraseRequest } from './archive/keys.js';
export {
  openDatabase,
  checkAndHydrate,
  type OpenDatabaseOptions,
  type CheckAndHydrateOptions,
  type CheckAndHydrateResult,
} from './integration/open-database.js';
export {
  dehydrateOnExit,
  type DehydrateOnExitOptions,
  type Unhook,
} from './integration/dehydrate-on-exit.js';
export {
  getStatus,
  type StatusResult,
  type StatusOptions,
  type DatabaseStatusEntry,
  type SyncState,
  type ArchiveSizeWarning,
  LARGE_ARCHIVE_BYTES,
} from './integration/status.js';
export {
  verifyArchives,
  type VerifyOptions,
  type VerifyResult,
  type VerifiedDatabase,
} from './integration/verify.js';
export {
  SYNC_STATE_DIR,
  readSyncRecord,
  syncStatePaths,
  type DatabaseFingerprint,
  type MatchedBy,
  type PendingMerge,
  type SyncRecord,
  type SyncStatePaths,
} from './sync/sync-state.js';
export { classifyHashes, type SyncKind } from './sync/classify-sync.js';
export type { MergeFn } from './sync/merge-function.js';
export {
  archiveContentHash,
  compareArchives,
  type ArchiveComparison,
  type ArchiveDifference,
} from './archive/content-comparison.js';
export { mergeArchives } from './merge/merge-archives.js';
export type {
  MergeArchivesOptions,
  MergeResult,
  MergeConflict,
  MergeConflictKind,
} from './merge/merge-types.js';
export { mergeManifests, type MergeManifestsOptions } from './merge/merge-manifest.js';
export { resolveConflicts, type ResolveOptions, type ResolveOutcome } from './merge/resolve-conflicts.js';
export { diffArchives, summarize } from './diff/diff-archives.js';
export { diffDatabase, diffRevision, type DiffDatabaseOptions } from './diff/diff-database.js';
export type { DiffChange, CellChange, CellText, DiffSummary } from './diff/diff-types.js';
export {
  installGit,
  uninstallGit,
  type GitSetupOptions,
  type InstallGitOptions,
  type GitSetupChange,
  type GitSetupResult,
} from './git/install.js';
export { checkGit, type CheckGitOptions, type CheckGitResult, type GitProblem } from './git/check.js';
export { ARCHIVE_CHECKS, type ArchiveCheck } from './git/check-archives.js';
export {
  checkStagedArchives,
  type StagedCheckOptions,
  type StagedCheckResult,
  type StagedDatabase,
} from './git/pre-commit.js';
export type { HookAction } from './git/hooks.js';
