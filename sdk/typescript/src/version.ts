/** This package's version, sent in `Hello.client_version`; kept equal to package.json. */
export const VERSION = '0.1.0';

/** Sent in `Hello.sdk_language`. */
export const SDK_LANGUAGE = 'typescript';
