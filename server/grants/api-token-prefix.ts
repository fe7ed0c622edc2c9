/**
 * Every Gatehouse API token starts with this, so secret scanners can recognise a leaked one. Kept
 * apart so the grant store (which never draws a handle with it) and the token store share it
 * without importing each other.
 */
export const apiTokenPrefix = 'gh_';
