package main

import "github.com/spf13/cobra"

// datasetCmd groups the LeRobot dataset tools.
func (a *app) datasetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dataset",
		Short: "LeRobot v3.0 datasets: info, validate, stats, push to the Hugging Face Hub",
	}
	cmd.AddCommand(a.datasetPushCmd())
	cmd.AddCommand(a.datasetToolCmds()...)
	return cmd
}
