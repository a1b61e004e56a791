export { STRACE_ARGS, straceCommand } from "./command.ts";
export { StraceParser, parseStraceLine, unknownSyscallNumber } from "./parse.ts";
export type { ArchRecord, StraceParserOptions, StraceRecord, SyscallRecord } from "./parse.ts";
export { readStraceFile } from "./read.ts";
export { recordStrace, traceCommand } from "./record.ts";
export type { StraceRecording, StraceRun, TraceOptions } from "./record.ts";
