export type * from "./types.ts";
export { assertValid, isValid, describeValidationError, type ContractName } from "./validators.ts";
export { schemaFiles } from "./schemas.ts";
