// Command ratify verifies the supply-chain artifacts attached to container
// images (Notary Project signatures first) and reports whether an image may
// run. It reads Ratify v1's config.json and speaks Ratify v1's CLI.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the CLI with args and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var failed *verificationFailedError
	if errors.As(err, &failed) {
		fmt.Fprintf(stderr, "ratify: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stderr, "ratify: %s\n", describe(err))
	return exitError
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "ratify",
		Short: "Verify the signatures and supply-chain artifacts of container images",
		Long: `ratify finds the artifacts attached to a container image in its OCI registry
(Notary Project signatures, SBOMs, reports), verifies them against the trust
policy and certificates in config.json, and says whether the image may run.

Exit codes: 0 the subject passed, 1 it failed verification, 2 it could not be
verified (bad reference, unreachable registry, bad configuration).

Configuration: -c FILE, else $RATIFY_CONFIG/config.json, else ~/.ratify/config.json.
Start with "ratify demo" to see a signed and an unsigned image verified.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newVerifyCommand(),
		newServeCommand(),
		newDiscoverCommand(),
		newResolveCommand(),
		newReferrerCommand(),
		newDemoCommand(),
		newVersionCommand(),
	)
	return root
}
