// vitest globalSetup for the integration project: one shared control plane for every test file
// that does not need one of its own (tests that restart the API server start their own).
import type { TestProject } from "vitest/node";
import { ControlPlane } from "../../src/local/control-plane.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Admin kubeconfig of the shared control plane. */
    kubeconfig: string;
    /** Operator kubeconfig (RBAC-limited identity omnivisor-operator). */
    operatorKubeconfig: string;
    /** Status watcher kubeconfig (identity omnivisor-status-watcher, less than the operator's). */
    statusWatcherKubeconfig: string;
    /** https://127.0.0.1:<port> */
    server: string;
    /** Working directory of the shared control plane (logs/ has every component's log). */
    controlPlaneDir: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cp = await ControlPlane.start({});
  project.provide("kubeconfig", cp.kubeconfigs.admin);
  project.provide("operatorKubeconfig", cp.kubeconfigs.operator);
  project.provide("statusWatcherKubeconfig", cp.kubeconfigs.statusWatcher);
  project.provide("server", cp.server);
  project.provide("controlPlaneDir", cp.dir);
  return async () => {
    await cp.stop();
  };
}
