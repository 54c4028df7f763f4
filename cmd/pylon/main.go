// Command pylon is the Pylon API gateway.
package main

import (
	"os"

	"pylon.io/pylon/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
