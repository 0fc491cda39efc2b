package main

import (
	"encoding/json"
	"fmt"

	"github.com/bulwarkhq/bulwark/api"
	"github.com/spf13/cobra"
)

// openAPIDocument renders the admin API's OpenAPI 3.1 description, the same
// text served at /api/v1/openapi.json and kept in docs/openapi.json.
func openAPIDocument() ([]byte, error) {
	srv := api.New(api.Options{})
	b, err := json.MarshalIndent(srv.OpenAPI(), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func newOpenAPICmd() *cobra.Command {
	return &cobra.Command{
		Use:    "openapi",
		Short:  "Print the admin API's OpenAPI 3.1 description",
		Hidden: true,
		Args:   usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := openAPIDocument()
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), string(b))
			return err
		},
	}
}
