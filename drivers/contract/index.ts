// The driver contract in one import: `import type { Session } from "../contract/index.ts"`.
export type * from "./types.ts";
export * from "./errors.ts";
export * from "./identity.ts";
