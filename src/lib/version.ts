// walk's version, shown by `walk version` and the API. Kept in step with package.json by a test.
export const WALK_VERSION = "0.1.0";
