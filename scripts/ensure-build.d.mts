// Types of ensure-build.mjs (plain JavaScript: `npm start` runs it before anything is compiled).
export declare const STAMP: string;
export declare const SOURCES: string[];
export declare function buildReason(root: string): 'never built' | 'sources changed' | undefined;
