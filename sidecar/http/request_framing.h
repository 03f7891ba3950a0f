// Checks on how an HTTP/1 request was framed that h2o 2.2 (Debian 12) does not make itself.
#pragma once

#include <h2o.h>

namespace outrigger::http {

// True when an HTTP/1 request carried several Content-Length headers that disagree (RFC 9110:
// the message is malformed, and the framing of whatever follows it on the connection is in
// doubt). h2o 2.2 keeps only the first and hands none of them to the handler, so the request's
// header block is read again with h2o's own parser, from the connection's input buffer where
// h2o keeps it until the request ends.
bool conflictingContentLength(h2o_req_t* req);

}  // namespace outrigger::http
