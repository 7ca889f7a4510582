// How Node runs the manager wherever we start it: `make run`, the benchmarks, and (the same value
// in NODE_OPTIONS) a Deployment. Left alone, V8 sizes its old space from the machine's memory (GBs
// on a large node) and lets garbage pile up long before collecting it. With this limit the manager
// of 10,000 VMs over 100 hosts peaked at 407 MiB instead of ~650 MiB, for ~10% more CPU spent
// collecting (ADR 0012). Fleets much larger than that need a larger value.
export const managerHeapMiB = 320;

/** Node flags for a manager with a heap of `heapMiB` (0: V8's own default). */
export const managerNodeFlags = (heapMiB = managerHeapMiB): string[] => (heapMiB > 0 ? [`--max-old-space-size=${heapMiB}`] : []);
