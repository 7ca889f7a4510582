// What the benchmarks time against: the VirtualMachines of one namespace as a user watching them
// would see them, with the moment each change arrived. Built on the operator's own informer, which
// lists, watches and restarts after any error: a bare watch opened right after the API server came
// up was refused with 429 Too Many Requests and, silently dead, never reported a VM.
import { Informer } from "../src/runtime/informer.ts";
import { createLogger } from "../src/runtime/log.ts";
import { keyOf, ResourceClient } from "../src/runtime/resource.ts";
import { loadKubeConfig } from "../src/runtime/kubeconfig.ts";
import { virtualMachinesType, type VmObject } from "../src/fleet/kinds.ts";

/** What a benchmark reads of a VM: Running once status.phase says so, else its power state or phase. */
export const stateOf = (vm: VmObject | undefined): string => (vm?.status?.phase === "Running" ? "Running" : (vm?.status?.powerState ?? vm?.status?.phase ?? ""));

type Listener = (name: string, vm: VmObject, at: number, created: boolean) => void;

export class VmWatch {
  private readonly informer: Informer<VmObject>;
  private readonly listeners = new Set<Listener>();
  private readonly namespace: string;

  private constructor(kubeconfig: string, namespace: string) {
    this.namespace = namespace;
    const kc = loadKubeConfig(kubeconfig);
    this.informer = new Informer<VmObject>(kc, new ResourceClient<VmObject>(kc, virtualMachinesType), createLogger({ level: "error", write: (l) => process.stderr.write(`${l}\n`) }), { namespace, backoff: { baseMs: 100, capMs: 2_000 } });
    this.informer.on({
      added: (vm) => this.emit(vm, true),
      updated: (_old, vm) => this.emit(vm, false),
    });
  }

  /** Starts watching and resolves once the first list is in. */
  static async start(kubeconfig: string, namespace: string): Promise<VmWatch> {
    const w = new VmWatch(kubeconfig, namespace);
    w.informer.start();
    await w.informer.waitForSync();
    return w;
  }

  /** Called for every add and update, with performance.now() at its arrival. */
  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  state(name: string): string {
    return stateOf(this.informer.get(keyOf({ name, namespace: this.namespace })));
  }

  all(): VmObject[] {
    return this.informer.list();
  }

  /** Resolves with the arrival time of the change after which `until` holds for the VM's state. */
  when(name: string, until: (state: string) => boolean, timeoutMs: number): Promise<number> {
    if (until(this.state(name))) return Promise.resolve(performance.now());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`${name}: state still "${this.state(name)}" after ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onChange((n, vm, at) => {
        if (n !== name || !until(stateOf(vm))) return;
        clearTimeout(timer);
        off();
        resolve(at);
      });
    });
  }

  async stop(): Promise<void> {
    this.listeners.clear();
    await this.informer.shutdown();
  }

  private emit(vm: VmObject, created: boolean): void {
    const at = performance.now();
    for (const l of [...this.listeners]) l(vm.metadata.name, vm, at, created);
  }
}
