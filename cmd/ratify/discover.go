package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/config"
)

// maxDiscoverDepth bounds how deep discover follows referrers of referrers.
const maxDiscoverDepth = 4

// storeFlags are the flags of the commands that only read from the store.
type storeFlags struct {
	subject    string
	configPath string
	plainHTTP  bool
}

func (f *storeFlags) register(cmd *cobra.Command, subjectHelp string) {
	cmd.Flags().StringVarP(&f.subject, "subject", "s", "", subjectHelp)
	cmd.Flags().StringVarP(&f.configPath, "config", "c", "", "config.json path; its store section says how to reach registries")
	cmd.Flags().BoolVar(&f.plainHTTP, "plain-http", false, "use plain HTTP when no config file is found")
	_ = cmd.MarkFlagRequired("subject")
}

// open parses the subject and builds the store to read it from.
func (f *storeFlags) open() (ratify.Store, registry.Reference, error) {
	ref, err := ratify.ParseReference(f.subject)
	if err != nil {
		return nil, ref, err
	}
	store, err := f.store()
	return store, ref, err
}

// resolve is open followed by resolving the subject to its descriptor.
func (f *storeFlags) resolve(ctx context.Context) (ratify.Store, registry.Reference, ocispec.Descriptor, error) {
	store, ref, err := f.open()
	if err != nil {
		return nil, ref, ocispec.Descriptor{}, err
	}
	desc, err := store.Resolve(ctx, ref)
	return store, ref, desc, err
}

// store builds the store from the config file, or a default registry store
// when no config was given and none exists at the default location.
func (f *storeFlags) store() (ratify.Store, error) {
	cfg, err := config.Load(f.configPath)
	if err != nil {
		if f.configPath != "" || !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		cfg = &config.Config{Store: config.StoreSection{Plugins: []config.StorePlugin{{Name: "oras", UseHTTP: f.plainHTTP}}}}
	}
	return config.BuildStore(cfg, config.BuildOptions{})
}

// node is one artifact in the referrers tree.
type node struct {
	Digest       string            `json:"digest"`
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Size         int64             `json:"size"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Referrers    []node            `json:"referrers,omitempty"`
}

func newDiscoverCommand() *cobra.Command {
	var (
		flat   bool
		output string
		sf     storeFlags
	)
	cmd := &cobra.Command{
		Use:   "discover -s SUBJECT [--flat] [-o tree|json]",
		Short: "Show the artifacts attached to an image, and theirs in turn",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "tree" && output != "json" {
				return fmt.Errorf("-o %q: want tree or json", output)
			}
			store, ref, desc, err := sf.resolve(cmd.Context())
			if err != nil {
				return err
			}
			root := node{Digest: desc.Digest.String(), MediaType: desc.MediaType, Size: desc.Size}
			if err := discover(cmd.Context(), store, ref, &root, desc, 0); err != nil {
				return err
			}
			name := fmt.Sprintf("%s/%s@%s", ref.Registry, ref.Repository, desc.Digest)
			w := cmd.OutOrStdout()
			switch {
			case output == "json":
				out, _ := json.MarshalIndent(struct {
					Subject string `json:"subject"`
					node
				}{name, root}, "", "  ")
				fmt.Fprintln(w, string(out))
			case flat:
				printFlat(w, root.Referrers)
			default:
				fmt.Fprintln(w, name)
				printTree(w, root.Referrers, "")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&flat, "flat", false, "one line per artifact instead of a tree")
	cmd.Flags().StringVarP(&output, "output", "o", "tree", "output format: tree or json")
	sf.register(cmd, "image reference")
	return cmd
}

func discover(ctx context.Context, store ratify.Store, ref registry.Reference, n *node, desc ocispec.Descriptor, depth int) error {
	if depth >= maxDiscoverDepth {
		return nil
	}
	repo := registry.Reference{Registry: ref.Registry, Repository: ref.Repository}
	referrers, err := store.Referrers(ctx, repo, desc)
	if err != nil {
		return err
	}
	for _, r := range referrers {
		child := node{Digest: r.Digest.String(), MediaType: r.MediaType, ArtifactType: r.ArtifactType, Size: r.Size, Annotations: r.Annotations}
		if err := discover(ctx, store, ref, &child, r, depth+1); err != nil {
			return err
		}
		n.Referrers = append(n.Referrers, child)
	}
	return nil
}

func printTree(w io.Writer, nodes []node, indent string) {
	for i, n := range nodes {
		branch, next := "├── ", "│   "
		if i == len(nodes)-1 {
			branch, next = "└── ", "    "
		}
		fmt.Fprintf(w, "%s%s[%s] %s\n", indent, branch, orDash(n.ArtifactType), n.Digest)
		printTree(w, n.Referrers, indent+next)
	}
}

func printFlat(w io.Writer, nodes []node) {
	var walk func([]node)
	walk = func(nodes []node) {
		for _, n := range nodes {
			fmt.Fprintf(w, "%s\t%s\n", n.Digest, orDash(n.ArtifactType))
			walk(n.Referrers)
		}
	}
	walk(nodes)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
