package policy

// The command-module protocol for a policy's main: argv[1] names the operation, stdin holds
// the input, stdout gets exactly one JSON document, stderr gets the log, and the exit code
// says whether stdout is an answer. In the sandbox os.Exit is WASI proc_exit, which the host
// reads as the exit code.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Exit codes (the same as the Rust SDK's).
const (
	// ExitOK: stdout holds the answer.
	ExitOK = 0
	// ExitFailed: the policy could not decide (bad settings, an unexpected request, an
	// invalid decision); stdout stays empty.
	ExitFailed = 1
	// ExitUsage: argv[1] is missing or not an operation.
	ExitUsage = 2
	// ExitBadInput: stdin is not a valid request (or settings document).
	ExitBadInput = 3
)

// EvaluateFunc decides one request. A non-nil error means "could not decide" (a policy error,
// which denies under failurePolicy: Fail); a denial is a Decision, not an error.
type EvaluateFunc func(req *EvaluationRequest) (Decision, error)

// ValidateSettingsFunc checks settings when the configuration loads.
type ValidateSettingsFunc func(settings json.RawMessage) SettingsValidation

// Run runs the protocol on the process's argv, stdin, stdout and stderr, and exits with the
// code RunWith returns. Call it from main.
func Run(evaluate EvaluateFunc, validateSettings ValidateSettingsFunc) {
	os.Exit(RunWith(os.Args, os.Stdin, os.Stdout, os.Stderr, evaluate, validateSettings))
}

// RunWith is Run with explicit argv and streams; it returns the exit code. Tests call it.
func RunWith(args []string, stdin io.Reader, stdout, stderr io.Writer, evaluate EvaluateFunc, validateSettings ValidateSettingsFunc) int {
	logf := func(format string, a ...any) {
		// A failed write to stderr has nowhere better to go; the exit code still tells.
		_, _ = fmt.Fprintf(stderr, format+"\n", a...)
	}
	op := ""
	if len(args) > 1 {
		op = args[1]
	}
	input, err := io.ReadAll(stdin)
	if err != nil {
		logf("reading stdin: %v", err)
		return ExitBadInput
	}
	var answer any
	switch op {
	case "evaluate":
		req, err := ParseRequest(input)
		if err != nil {
			logf("stdin is not a valid EvaluationRequest: %v", err)
			return ExitBadInput
		}
		decision, err := evaluate(req)
		if err != nil {
			logf("%v", err)
			return ExitFailed
		}
		if err := decision.Validate(); err != nil {
			logf("policy produced an invalid decision: %v", err)
			return ExitFailed
		}
		answer = decision
	case "validate-settings":
		if !json.Valid(input) {
			var v any
			err := json.Unmarshal(input, &v)
			logf("stdin is not JSON settings: %v", err)
			return ExitBadInput
		}
		answer = validateSettings(json.RawMessage(input))
	default:
		name := "policy"
		if len(args) > 0 {
			name = filepath.Base(args[0])
		}
		got := "no operation"
		if op != "" {
			got = fmt.Sprintf("%q", op)
		}
		logf("usage: %s evaluate|validate-settings < input.json (got %s)", name, got)
		return ExitUsage
	}
	out, err := json.Marshal(answer)
	if err != nil {
		logf("encoding the answer: %v", err)
		return ExitFailed
	}
	// One write: the whole document or nothing.
	if _, err := stdout.Write(append(out, '\n')); err != nil {
		logf("writing stdout: %v", err)
		return ExitFailed
	}
	return ExitOK
}
