package outrigger_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"time"

	outrigger "github.com/outrigger-dev/outrigger/sdk/go"
)

func ExampleClient_Chat() {
	ctx := context.Background()
	client, err := outrigger.Dial(ctx, outrigger.WithMetadata(outrigger.Metadata{Tenant: "acme"}))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := client.Chat(ctx, &outrigger.Request{
		Model:    "gpt-4o-mini",
		Messages: []outrigger.Message{outrigger.UserMessage("Why is the sky blue?")},
		Params:   &outrigger.Params{Temperature: outrigger.Float32(0.2)},
		Metadata: outrigger.Metadata{User: "u-1842", PromptID: "faq", PromptVersion: "v2"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Content, resp.Usage.CompletionTokens, resp.TraceID)
}

func ExampleClient_ChatStream() {
	ctx := context.Background()
	client, err := outrigger.New()
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	stream, err := client.ChatStream(ctx, &outrigger.Request{
		Model:    "gpt-4o-mini",
		Messages: []outrigger.Message{outrigger.UserMessage("Tell me a story")},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer stream.Close()
	for {
		chunk, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(chunk.Delta)
	}
	fmt.Println(stream.Response().FinishReason)
}

func ExampleError() {
	client, _ := outrigger.New()
	defer client.Close()
	_, err := client.Chat(context.Background(), &outrigger.Request{Model: "m"})
	var e *outrigger.Error
	switch {
	case errors.Is(err, outrigger.ErrPermissionDenied):
		fmt.Println("denied by a guardrail")
	case errors.As(err, &e) && e.Retryable:
		fmt.Println("retry after", e.RetryAfter, "origin", e.Origin)
	}
}
