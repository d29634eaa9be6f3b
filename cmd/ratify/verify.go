package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/config"
)

// defaultCLITimeout is the deadline of one `ratify verify`: longer than the
// admission webhook's, since a pipeline can wait for a cold revocation check.
const defaultCLITimeout = 60 * time.Second

func newVerifyCommand() *cobra.Command {
	var (
		subject       string
		configPath    string
		artifactTypes []string
		timeout       time.Duration
		silent        bool
	)
	cmd := &cobra.Command{
		Use:   "verify -s SUBJECT [-c CONFIG] [-t ARTIFACT_TYPE]",
		Short: "Verify the artifacts attached to an image and print the result as JSON",
		Long: `Verify lists the artifacts attached to SUBJECT, runs every configured verifier
that handles their artifact types, applies the policy, and prints the result
(format version 0.2.0, as Ratify v1's provider answers) on standard output.

Exit codes: 0 passed, 1 failed verification, 2 could not be verified.`,
		Example: `  ratify verify -s registry.example/app@sha256:0b1c... -c config.json
  ratify verify -s registry.example/app:v1 -t application/vnd.cncf.notary.signature`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(configPath)
			if err != nil {
				return err
			}
			exec, err := config.Build(cfg, config.BuildOptions{Timeout: timeout})
			if err != nil {
				return err
			}
			result, err := exec.Verify(cmd.Context(), subject, ratify.VerifyOptions{
				ArtifactTypes: artifactTypes,
				TraceID:       uuid.NewString(),
			})
			if err != nil {
				return err
			}
			if !silent {
				out, err := json.MarshalIndent(ratify.Presented(exec.Policy, result), "", "  ")
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), string(out))
			}
			if !result.IsSuccess {
				return &verificationFailedError{subject: subject, reason: failureReason(result, cfg, artifactTypes)}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&subject, "subject", "s", "", "image reference to verify (registry/repository:tag or @sha256:digest)")
	cmd.Flags().StringVarP(&configPath, "config", "c", "", "config.json path (default $RATIFY_CONFIG/config.json or ~/.ratify/config.json)")
	cmd.Flags().StringSliceVarP(&artifactTypes, "artifactType", "t", nil, "verify only referrers of this artifact type (repeatable)")
	cmd.Flags().BoolVar(&silent, "silent", false, "print no result on standard output; the exit code tells the outcome (the reason of a failure still goes to standard error)")
	cmd.Flags().DurationVar(&timeout, "timeout", defaultCLITimeout, "deadline for the whole verification")
	_ = cmd.MarkFlagRequired("subject")
	return cmd
}

// failureReason says why result failed where its JSON alone does not: which
// platforms of an index failed, or that nothing checkable is attached. It
// is empty when the reports say it.
func failureReason(result ratify.Result, cfg *config.Config, asked []string) string {
	var failing []string
	for _, p := range result.Platforms {
		if !p.IsSuccess {
			failing = append(failing, p.Platform)
		}
	}
	switch {
	case len(failing) > 0:
		return "platform " + strings.Join(failing, ", ") + " failed"
	case len(result.VerifierReports) == 0 && len(result.Platforms) == 0:
		return nothingAttached(cfg, asked)
	}
	return ""
}
