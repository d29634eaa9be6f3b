package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
)

func newResolveCommand() *cobra.Command {
	var (
		output string
		sf     storeFlags
	)
	cmd := &cobra.Command{
		Use:   "resolve -s SUBJECT [-o text|json]",
		Short: "Resolve an image reference to its digest",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, ref, desc, err := sf.resolve(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				out, _ := json.MarshalIndent(desc, "", "  ")
				fmt.Fprintln(cmd.OutOrStdout(), string(out))
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s@%s\n", ref.Registry, ref.Repository, desc.Digest)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text (repository@digest) or json (the descriptor)")
	sf.register(cmd, "image reference")
	return cmd
}

// blobResolver is implemented by stores that can describe a blob from its
// digest alone (registry HEAD on the blob).
type blobResolver interface {
	ResolveBlob(ctx context.Context, repo registry.Reference, dgst digest.Digest) (ocispec.Descriptor, error)
}

func resolveBlob(cmd *cobra.Command, store ratify.Store, repo registry.Reference, d digest.Digest) (ocispec.Descriptor, error) {
	br, ok := store.(blobResolver)
	if !ok {
		return ocispec.Descriptor{}, fmt.Errorf("this store cannot look up blobs by digest: %w", errdef.ErrUnsupported)
	}
	repo.Reference = ""
	return br.ResolveBlob(cmd.Context(), repo, d)
}

func newReferrerCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "referrer",
		Short: "Show the content of an artifact attached to an image",
	}
	cmd.AddCommand(newShowCommand("show-manifest", "Print a referrer's manifest", true),
		newShowCommand("show-blob", "Print a blob of a referrer (raw bytes)", false))
	return cmd
}

func newShowCommand(name, short string, manifest bool) *cobra.Command {
	var (
		dgst string
		sf   storeFlags
	)
	cmd := &cobra.Command{
		Use:   name + " -s SUBJECT -d DIGEST",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := digest.Parse(dgst)
			if err != nil {
				return fmt.Errorf("-d %q: %v: %w", dgst, err, errdef.ErrInvalidReference)
			}
			store, ref, err := sf.open()
			if err != nil {
				return err
			}
			repo := ref
			repo.Reference = d.String()
			var desc ocispec.Descriptor
			if manifest {
				desc, err = store.Resolve(cmd.Context(), repo)
			} else {
				desc, err = resolveBlob(cmd, store, repo, d)
			}
			if err != nil {
				return err
			}
			repo.Reference = ""
			content, err := store.Fetch(cmd.Context(), repo, desc)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(content)
			return err
		},
	}
	cmd.Flags().StringVarP(&dgst, "digest", "d", "", "digest of the manifest or blob")
	sf.register(cmd, "image reference (names the repository)")
	_ = cmd.MarkFlagRequired("digest")
	return cmd
}
