// Command referrers-registry serves go-containerregistry's in-memory registry (the one
// `crane registry serve` runs) with the OCI 1.1 referrers API switched on, which crane's
// command does not offer: `GET /v2/<name>/referrers/<digest>` lists the manifests whose
// `subject` is that digest. It listens on 127.0.0.1 and prints "serving on port N" on stderr,
// as crane does, for the tests' registry harness (crates/promote-testkit/src/registry.rs).
package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	fmt.Fprintf(os.Stderr, "serving on port %d\n", l.Addr().(*net.TCPAddr).Port)
	server := &http.Server{
		Handler:           registry.New(registry.WithReferrersSupport(true)),
		ReadHeaderTimeout: 5 * time.Second,
	}
	log.Fatal(server.Serve(l))
}
