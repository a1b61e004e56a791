/**
 * The agent's side of scatter-gather control: every agent subscribes (no queue group, so each one
 * answers) to sc.ctl.start|stop|status|health|installed, plus its own node's profile, install and
 * uninstall subjects. A
 * request that is not valid JSON or breaks the contract gets an error reply and is counted; it never
 * throws out of the subscription.
 *
 * Replies go to `sc.reply.<replyToken>.<node>`, which only this node's NATS user may publish to, not
 * to the request's NATS reply subject: so no agent can answer in another node's name. A start is
 * carried out only for a session that has a record in KV sc_sessions, read from there.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { assertValid } from "../../../lib/contracts/index.ts";
import type {
  ControlReply,
  ControlRequest,
  ProfileDocument,
  ProfileSyncReport,
  SessionRecord,
} from "../../../lib/contracts/index.ts";
import { SeccomposeError, isSeccomposeError } from "../../../lib/errors.ts";
import {
  BUCKET_SESSIONS,
  CONTROL_SUBJECTS,
  nodeControlSubject,
  replySubject,
} from "../../../lib/subjects.ts";
import {
  createProfileInstaller,
  createProfileLister,
  createProfileRemover,
  type ProfileInstaller,
  type ProfileLister,
  type ProfileRemover,
} from "../install/profile-installer.ts";
import type { AgentController } from "../ports.ts";

export interface ControlPlaneOptions {
  nc: NatsConnection;
  /** This agent's node name, carried in every reply. */
  node: string;
  controller: AgentController;
  /**
   * The record of a session in KV sc_sessions, undefined when there is none; throws while the
   * bucket cannot be read.
   */
  sessionRecord: (sessionId: string) => Promise<SessionRecord | undefined>;
  /** Writes profiles into the node's seccomp directory (sc.node.<node>.install); default: none configured. */
  installer?: ProfileInstaller;
  /** Lists the profiles in the node's seccomp directory (sc.ctl.installed); default: none configured. */
  lister?: ProfileLister;
  /** Removes a profile from it (sc.node.<node>.uninstall); default: none configured. */
  remover?: ProfileRemover;
  /** The last sync of the directory with KV sc_installed, reported with the list. */
  lastSync?: () => ProfileSyncReport | undefined;
  logger: Logger;
}

export interface ControlPlaneStats {
  requests: number;
  /** Requests that were not JSON or broke the control contract. */
  invalid: number;
  /** Valid requests the agent could not carry out. */
  failed: number;
}

type ControlOp = ControlRequest["op"];
/** The node profile subject takes a status request naming the session. */
type Endpoint = ControlOp | "profile";

const ERROR_MESSAGE_MAX = 4096;
const REQUEST_ID_MAX = 64;
const REPLY_TOKEN = /^[A-Za-z0-9_-]{16,64}$/;

function errorBody(err: unknown, op: Endpoint): { code: string; message: string } {
  const message = isSeccomposeError(err)
    ? err.message
    : `the agent failed to carry out "${op}": ${(err as Error).message}`;
  return {
    code: isSeccomposeError(err) ? err.code : "SC_CONTROL_FAILED",
    message: message.length > ERROR_MESSAGE_MAX ? `${message.slice(0, ERROR_MESSAGE_MAX - 1)}…` : message,
  };
}

/** The request id of a request that failed validation, when it has a usable one. */
function requestIdOf(value: unknown): string {
  if (typeof value !== "object" || value === null) return "";
  const id = (value as { requestId?: unknown }).requestId;
  return typeof id === "string" && id.length <= REQUEST_ID_MAX ? id : "";
}

/** The reply token of a request that failed validation, when it has a usable one. */
function replyTokenOf(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const token = (value as { replyToken?: unknown }).replyToken;
  return typeof token === "string" && REPLY_TOKEN.test(token) ? token : undefined;
}

export class ControlPlane {
  readonly #nc: NatsConnection;
  readonly #node: string;
  readonly #controller: AgentController;
  readonly #sessionRecord: ControlPlaneOptions["sessionRecord"];
  readonly #installer: ProfileInstaller;
  readonly #lister: ProfileLister;
  readonly #remover: ProfileRemover;
  readonly #lastSync: () => ProfileSyncReport | undefined;
  readonly #logger: Logger;
  readonly #subscriptions: Subscription[] = [];
  readonly #inProgress = new Set<Promise<void>>();
  readonly #stats: ControlPlaneStats = { requests: 0, invalid: 0, failed: 0 };

  private constructor(opts: ControlPlaneOptions) {
    this.#nc = opts.nc;
    this.#node = opts.node;
    this.#controller = opts.controller;
    this.#sessionRecord = opts.sessionRecord;
    this.#installer = opts.installer ?? createProfileInstaller(opts.node, undefined);
    this.#lister = opts.lister ?? createProfileLister(opts.node, undefined);
    this.#remover = opts.remover ?? createProfileRemover(opts.node, undefined);
    this.#lastSync = opts.lastSync ?? (() => undefined);
    this.#logger = opts.logger;
  }

  /** Subscribes to the control subjects; resolves once the server registered the subscriptions. */
  static async start(opts: ControlPlaneOptions): Promise<ControlPlane> {
    const plane = new ControlPlane(opts);
    for (const op of Object.keys(CONTROL_SUBJECTS) as Array<keyof typeof CONTROL_SUBJECTS>) {
      plane.#subscribe(CONTROL_SUBJECTS[op], op);
    }
    plane.#subscribe(nodeControlSubject(opts.node, "profile"), "profile");
    plane.#subscribe(nodeControlSubject(opts.node, "install"), "install");
    plane.#subscribe(nodeControlSubject(opts.node, "uninstall"), "uninstall");
    // A request sent right after start() must find the subscriptions in place.
    await opts.nc.flush();
    return plane;
  }

  stats(): ControlPlaneStats {
    return { ...this.#stats };
  }

  /** Unsubscribes and waits for the requests being answered. */
  async stop(): Promise<void> {
    for (const sub of this.#subscriptions.splice(0)) sub.unsubscribe();
    await Promise.all(this.#inProgress);
  }

  #subscribe(subject: string, endpoint: Endpoint): void {
    const sub = this.#nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) {
          this.#logger.error({ subject, err }, "control subscription failed");
          return;
        }
        const answer = this.#answer(endpoint, msg)
          .catch((e: unknown) =>
            this.#logger.error({ subject, err: e }, "could not answer a control request"),
          )
          .finally(() => this.#inProgress.delete(answer));
        this.#inProgress.add(answer);
      },
    });
    this.#subscriptions.push(sub);
  }

  async #answer(endpoint: Endpoint, msg: Msg): Promise<void> {
    this.#stats.requests++;
    let request: ControlRequest;
    let requestId = "";
    let replyToken: string | undefined;
    try {
      let value: unknown;
      try {
        value = JSON.parse(msg.string());
      } catch (err) {
        throw new SeccomposeError(
          "SC_MESSAGE_INVALID",
          `control request on ${msg.subject} is not JSON: ${(err as Error).message}`,
        );
      }
      requestId = requestIdOf(value);
      replyToken = replyTokenOf(value);
      request = this.#checkEndpoint(
        endpoint,
        assertValid("controlRequest", value, `control request on ${msg.subject}`),
        msg.subject,
      );
    } catch (err) {
      this.#stats.invalid++;
      this.#logger.warn({ subject: msg.subject, err }, "invalid control request");
      this.#respond(msg.subject, replyToken, this.#errorReply(requestId, err, endpoint), requestId);
      return;
    }

    let reply: unknown;
    try {
      reply = endpoint === "profile" ? await this.#profiles(request) : await this.#execute(request);
    } catch (err) {
      this.#stats.failed++;
      this.#logger.error({ subject: msg.subject, requestId, err }, "control request failed");
      reply = this.#errorReply(requestId, err, endpoint);
    }
    this.#respond(msg.subject, request.replyToken, reply, requestId);
  }

  #checkEndpoint(endpoint: Endpoint, request: ControlRequest, subject: string): ControlRequest {
    if (endpoint === "profile") {
      if (request.op !== "status" || request.sessionId === undefined) {
        throw new SeccomposeError(
          "SC_MESSAGE_INVALID",
          `control request on ${subject} must be a "status" request naming a sessionId, got op "${request.op}"${request.op === "status" ? " without sessionId" : ""}`,
        );
      }
    } else if (request.op !== endpoint) {
      throw new SeccomposeError(
        "SC_MESSAGE_INVALID",
        `control request on ${subject} has op "${request.op}", but this subject takes "${endpoint}" requests`,
      );
    }
    return request;
  }

  async #execute(request: ControlRequest): Promise<ControlReply> {
    const base = { schemaVersion: 1 as const, requestId: request.requestId, node: this.#node, ok: true };
    let reply: ControlReply;
    switch (request.op) {
      case "start":
        await this.#controller.startSession(await this.#recordOf(request.sessionId));
        reply = { ...base, sessions: this.#controller.sessionStatus(request.sessionId) };
        break;
      case "stop":
        await this.#controller.stopSession(request.sessionId);
        reply = { ...base, sessions: this.#controller.sessionStatus(request.sessionId) };
        break;
      case "status":
        reply = { ...base, sessions: this.#controller.sessionStatus(request.sessionId) };
        break;
      case "health":
        reply = { ...base, health: this.#controller.health() };
        break;
      case "install":
        reply = { ...base, installed: await this.#installer(request) };
        break;
      case "installed": {
        const sync = this.#lastSync();
        reply = { ...base, profiles: await this.#lister(), ...(sync !== undefined ? { sync } : {}) };
        break;
      }
      case "uninstall":
        reply = { ...base, uninstalled: await this.#remover(request.name) };
        break;
    }
    return assertValid("controlReply", reply, `node ${this.#node}'s own reply`, "SC_CONTROL_FAILED");
  }

  /** The session's record from KV sc_sessions: a start request alone never creates a session. */
  async #recordOf(sessionId: string): Promise<SessionRecord> {
    const record = await this.#sessionRecord(sessionId);
    if (record === undefined) {
      throw new SeccomposeError(
        "SC_SESSION_NOT_FOUND",
        `session "${sessionId}" has no record in KV ${BUCKET_SESSIONS}: node ${this.#node} starts only sessions that were created there`,
      );
    }
    return record;
  }

  /** The node's own profile documents for the session, as a JSON array. */
  async #profiles(request: ControlRequest): Promise<ProfileDocument[]> {
    // #checkEndpoint made sure of both.
    const sessionId = (request as { sessionId: string }).sessionId;
    const documents = this.#controller.nodeProfiles(sessionId);
    for (const doc of documents) {
      assertValid(
        "profileDocument",
        doc,
        `node ${this.#node}'s profile of session ${sessionId}`,
        "SC_CONTROL_FAILED",
      );
    }
    return documents;
  }

  #errorReply(requestId: string, err: unknown, endpoint: Endpoint): ControlReply {
    return { schemaVersion: 1, requestId, node: this.#node, ok: false, error: errorBody(err, endpoint) };
  }

  #respond(subject: string, replyToken: string | undefined, reply: unknown, requestId: string): void {
    if (replyToken === undefined) {
      // Counted as invalid: the schema requires the token.
      this.#logger.debug({ subject }, "control request without a usable reply token; not answered");
      return;
    }
    let data = JSON.stringify(reply);
    const maxPayload = this.#nc.info?.max_payload;
    if (maxPayload !== undefined && Buffer.byteLength(data) > maxPayload) {
      const error = new SeccomposeError(
        "SC_MESSAGE_TOO_LARGE",
        `node ${this.#node}'s reply to ${subject} is ${Buffer.byteLength(data)} bytes, over the server's max_payload of ${maxPayload} bytes`,
      );
      data = JSON.stringify(this.#errorReply(requestId, error, "status"));
    }
    this.#nc.publish(replySubject(replyToken, this.#node), data);
  }
}
