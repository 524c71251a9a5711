import { readFileSync } from "node:fs";
export default { fetch() { return new Response(readFileSync("/etc/passwd")); } };
