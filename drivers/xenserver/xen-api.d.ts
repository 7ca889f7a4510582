// Types for the parts of the `xen-api` package (Xen Orchestra's XAPI client, plain JavaScript)
// this driver uses. Only ./client.ts imports it.
declare module "xen-api" {
  export interface XapiOptions {
    url: string;
    auth: { user: string; password: string };
    transport?: "auto" | "json-rpc" | "xml-rpc";
    allowUnauthorized?: boolean;
    watchEvents?: boolean | string[];
    callTimeout?: number | ((method: string, args: unknown[]) => number);
    httpInactivityTimeout?: number;
    roCallRetryOptions?: { tries?: number; delay?: number };
    syncStackTraces?: boolean;
  }

  export class Xapi {
    constructor(options: XapiOptions);
    readonly status: "connected" | "connecting" | "disconnected";
    connect(): Promise<void>;
    disconnect(): Promise<void>;
    call(method: string, ...args: unknown[]): Promise<unknown>;
  }
}
