package client_test

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/herald-push/herald/client"
)

// Dial a node, with a second one to fail over to, and handle pushes. The client
// reconnects by itself until Close, resuming after the newest offset it saw; the
// callbacks run on one goroutine, in the order of the frames. It needs a running
// node, so it has no Output.
func Example_dial() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{
		URLs: []string{"ws://node-a:8080/ws", "ws://node-b:8080/ws"},
		// Called before every connection: after a 4001 it must mint a new token.
		Token: func(ctx context.Context) (string, error) { return os.Getenv("HERALD_TOKEN"), nil },
		OnPush: func(p client.Push) {
			log.Printf("%s from %s: %s", p.ID, p.From, p.Data)
		},
		OnRecovered: func(to, topic string, complete bool) {
			if !complete {
				log.Printf("history no longer holds everything for %s%s: resync", to, topic)
			}
		},
		OnState: func(s client.State, err error) { log.Printf("herald: %v %v", s, err) },
		AutoAck: true,
	})
	if err != nil {
		log.Fatal(err) // an *HTTPError for a refused token, or ctx's error
	}
	defer c.Close()
	if err := c.Subscribe("news", ""); err != nil {
		log.Fatal(err)
	}
	if err := c.Send("ref-1", map[string]string{"text": "hi"}); err != nil {
		log.Print(err) // ErrNotConnected between connections: retry with the same ref
	}
}
