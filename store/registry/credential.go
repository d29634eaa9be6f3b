package registry

import (
	"context"
	"fmt"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/openratify/ratify/errdef"
)

// DockerCredential returns the credentials of a docker config file
// (configPath, or $DOCKER_CONFIG/config.json, or ~/.docker/config.json when
// it is empty): the "auths" entries and the credential helpers named by
// "credsStore" and "credHelpers". A file that does not exist means anonymous
// access; a file that cannot be parsed is an error wrapping
// errdef.ErrInvalidConfig, and so is a credential helper that fails.
func DockerCredential(configPath string) (auth.CredentialFunc, error) {
	var (
		store *credentials.DynamicStore
		err   error
	)
	if configPath == "" {
		store, err = credentials.NewStoreFromDocker(credentials.StoreOptions{})
	} else {
		store, err = credentials.NewStore(configPath, credentials.StoreOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("docker config: %w: %w", errdef.ErrInvalidConfig, err)
	}
	path := store.ConfigPath()
	get := credentials.Credential(store)
	return func(ctx context.Context, host string) (auth.Credential, error) {
		cred, err := get(ctx, host)
		if err != nil {
			return auth.EmptyCredential, fmt.Errorf("credentials for %s from %s: %w: %w", host, path, errdef.ErrInvalidConfig, err)
		}
		return cred, nil
	}, nil
}
