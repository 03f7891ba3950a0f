// Checks on how an HTTP/1 request was framed that h2o 2.2 (Debian 12) does not make itself.
#pragma once

#include <h2o.h>

namespace outrigger::http {

// Why an HTTP/1 request's framing is in doubt, or null when it is not: several Content-Length
// headers that disagree, or Content-Length together with Transfer-Encoding (RFC 9112: either way
// the message is malformed, and where whatever follows it on the connection starts is in
// doubt). h2o 2.2 keeps only the first Content-Length (Transfer-Encoding winning over it) and
// hands none of them to the handler, so the request's header block is read again with h2o's own
// parser, from the connection's input buffer where h2o keeps it until the request ends.
const char* framingError(h2o_req_t* req);

}  // namespace outrigger::http
