// Package outrigger is the Go client of the Outrigger sidecar.
//
// A service sends chat requests to the sidecar over a local Unix socket; the sidecar runs them
// through its guardrails, cache and providers and answers, whole or streamed. One Client holds
// one connection on which any number of calls run at once.
//
//	c, err := outrigger.Dial(ctx, outrigger.WithMetadata(outrigger.Metadata{Tenant: "acme"}))
//	if err != nil { ... }
//	defer c.Close()
//	resp, err := c.Chat(ctx, &outrigger.Request{
//		Model:    "gpt-4o-mini",
//		Messages: []outrigger.Message{outrigger.UserMessage("Hello")},
//	})
//
// Every call takes a context: its deadline is sent to the sidecar as the request's timeout and
// enforced locally as well, and cancelling it cancels the call on the sidecar. Failed calls
// return an *Error that carries the wire status, whether a retry may help, the stage that
// decided the outcome and a message; compare it with errors.Is against ErrUnavailable,
// ErrDeadlineExceeded and the other sentinels.
//
// The wire protocol's generated FlatBuffers code lives in the wire subpackage.
package outrigger

//go:generate ./generate.sh
