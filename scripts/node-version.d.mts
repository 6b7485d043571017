// Types for node-version.mjs (plain JS so that bootstrap.mjs runs before anything is installed).
export declare function satisfiesMinimum(version: string, range: string): boolean;
export declare function nodeVersionProblem(version: string, range: string): string | undefined;
