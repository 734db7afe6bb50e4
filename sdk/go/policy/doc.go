// Package policy is the Go SDK for kubectl promote policy modules
// (ABI promote.wasi-command/v1, see docs/policies.md).
//
// A policy is an ordinary Go command. The host runs it as a WASI preview1 module
// (GOOS=wasip1 GOARCH=wasm) with argv ["policy", OP], the input on stdin and one JSON
// document expected on stdout; natively the same binary runs with `go run . evaluate <
// request.json`, which is how policies are tested without a WebAssembly runtime.
//
// The package owns the wire shapes: the EvaluationRequest a policy reads, the Decision and
// SettingsValidation it answers with, and Run, which turns main into the command-module
// protocol:
//
//	func main() {
//		policy.Run(evaluate, validateSettings)
//	}
//
// Fields the host could not learn arrive as JSON null and are nil pointers here, never
// guessed, so a policy can tell "unknown" from "empty". It depends on the standard library
// only.
package policy

// APIVersion is the apiVersion of every document of the contract.
const APIVersion = "policy.promote.kubectl.io/v1alpha1"

// ABI is the name a module declares in its metadata (`abi`).
const ABI = "promote.wasi-command/v1"
