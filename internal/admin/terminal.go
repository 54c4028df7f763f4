package admin

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// OpenTerminal returns the terminal the process was started from, for
// KeyOptions.Terminal: stderr when it is one, else the controlling terminal
// (so `pylon run 2>pylon.log` still shows the key on the screen and keeps it
// out of the log file). A process without a terminal (a service, a
// container) gets an error.
func OpenTerminal() (io.WriteCloser, error) {
	if term.IsTerminal(int(os.Stderr.Fd())) {
		return nopCloser{os.Stderr}, nil
	}
	f, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("stderr is not a terminal and there is no controlling terminal: %w", err)
	}
	return f, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
