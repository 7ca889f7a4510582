// Every call through the driver contract, timed and counted in one place: a Driver whose sessions
// record each method's duration by driver and operation, and its failures by the typed error's
// kind (drivers/contract/errors.ts; "other" for anything else). Wrapped where the Drivers are
// made (src/fleet/sessions.ts), so no controller or driver has to remember it.
import { Counter, Histogram, type Registry } from "prom-client";
import { DriverError, type Driver, type Session } from "../../drivers/contract/index.ts";

export class DriverCallMetrics {
  private readonly duration: Histogram<"driver" | "operation">;
  private readonly errors: Counter<"driver" | "operation" | "kind">;

  constructor(registry: Registry) {
    const registers = [registry];
    this.duration = new Histogram({
      name: "omnivisor_driver_call_duration_seconds",
      help: "Time a driver call took (connect and every session method), by driver and operation; failed calls included.",
      labelNames: ["driver", "operation"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300],
      registers,
    });
    this.errors = new Counter({
      name: "omnivisor_driver_call_errors_total",
      help: "Driver calls that failed, by driver, operation and error kind (retryable, capacity, terminal, not-found, unsupported, invalid-transition, other).",
      labelNames: ["driver", "operation", "kind"],
      registers,
    });
  }

  /** The driver, measured: connect() and the sessions it opens. */
  driver(driver: Driver): Driver {
    return {
      kind: driver.kind,
      connect: async (...args) => this.session(driver.kind, await this.timed(driver.kind, "connect", () => driver.connect(...args))),
    };
  }

  private session(kind: string, session: Session): Session {
    return new Proxy(session, {
      get: (target, property, receiver) => {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== "function" || typeof property !== "string" || property === "capabilities") return value;
        return (...args: unknown[]) => this.timed(kind, property, () => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args));
      },
    });
  }

  private async timed<T>(driver: string, operation: string, call: () => Promise<T>): Promise<T> {
    const stop = this.duration.startTimer({ driver, operation });
    try {
      return await call();
    } catch (err) {
      this.errors.inc({ driver, operation, kind: err instanceof DriverError ? err.kind : "other" });
      throw err;
    } finally {
      stop();
    }
  }
}
