// kubectl as a child process (the one built for our Kubernetes version): stdout on success, an
// error naming the command and kubectl's own message on failure. Used by the local control
// plane, tests and benchmarks.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

export async function runKubectl(kubectl: string, kubeconfig: string, args: string[], input?: string): Promise<string> {
  const child = run(kubectl, ["--kubeconfig", kubeconfig, ...args], { maxBuffer: 64 * 1024 * 1024 });
  if (input !== undefined) child.child.stdin?.end(input);
  try {
    return (await child).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`kubectl ${args.join(" ")}: ${e.stderr?.trim() || e.message}`);
  }
}
