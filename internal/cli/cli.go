// Package cli is Pylon's command line: it parses flags and hands off to app.
package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"pylon.io/pylon/internal/app"
)

// Main runs the command line and returns the exit code.
func Main(args []string) int {
	root := &cobra.Command{Use: "pylon", Short: "Pylon: API gateway and Kubernetes ingress controller", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(runCmd(), validateCmd(), versionCmd(), getCmd(), applyCmd(), deleteCmd(), ingressCmd(), pluginsCmd())
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		if e, ok := err.(exitError); ok {
			return int(e)
		}
		fmt.Fprintln(os.Stderr, "pylon:", err)
		return 1
	}
	return 0
}

type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func runCmd() *cobra.Command {
	var o app.Options
	var logFormat, logLevel string
	var sample *float64 // --access-log-sample, used only when given
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Serve traffic (without --config: the bundled example with two echo backends)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Log = newLogger(logFormat, logLevel)
			// Packages that log through slog's default logger (the stores,
			// cluster membership) and the standard log package then write
			// in the same format: every line on stderr is one record.
			slog.SetDefault(o.Log)
			o.Control.AdminKeyEnv = os.Getenv("PYLON_ADMIN_KEY")
			o.Control.Version = version()
			if cmd.Flags().Changed("access-log-sample") {
				o.AccessLogSample = sample
			}
			for _, name := range []string{"access-log", "access-log-path", "access-log-format", "access-log-fields", "access-log-template", "access-log-sample"} {
				o.AccessLogFlags = o.AccessLogFlags || cmd.Flags().Changed(name)
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return app.Run(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.ConfigPath, "config", "c", "", "config file or directory of YAML files (watched)")
	f.Float64Var(&o.FileDeleteGuard, "file-delete-guard", 1, "hold back a config file edit that would leave no objects, or delete more than this share (0-1) of them, until SIGHUP or the files are restored; 0 turns it off")
	f.StringVar(&o.MetricsAddress, "metrics-address", "127.0.0.1:9100", "address for /metrics, /healthz and /readyz")
	f.StringVar(&o.MetricsRoutes, "metrics-routes", "100", "routes with /metrics series of their own (pylon_requests_total by route), the busiest first: a count, 'all' or 'none'; every request counts by service whatever this says")
	f.BoolVar(&o.AccessLog, "access-log", true, "write a JSON access log line per request")
	f.StringVar(&o.AccessLogPath, "access-log-path", "-", "access log file ('-' for stdout); SIGUSR1 reopens it")
	f.StringVar(&o.AccessLogFormat, "access-log-format", "json", "access log line format: json or text")
	f.StringSliceVar(&o.AccessLogFields, "access-log-fields", nil, "the fields of a JSON line, in order (default: all but the composites; see docs/configuration.md)")
	f.StringVar(&o.AccessLogTemplate, "access-log-template", "", "a text line: $field or ${field} (nginx's names too: $remote_addr, $request, ...), $$ for a dollar sign (default: nginx's combined, plus request time, upstream and route)")
	sample = f.Float64("access-log-sample", 1, "share (0-1) of the answers below 400 that get a line; every 4xx and 5xx gets one")
	f.DurationVar(&o.DrainTimeout, "drain-timeout", 30*time.Second, "how long SIGTERM waits for in-flight requests")
	f.DurationVar(&o.ShutdownDelay, "shutdown-delay", 0, "how long to report not-ready before closing listeners")
	f.StringVar(&o.Control.DataDir, "data-dir", defaultDataDir(), "directory for the embedded store and the admin key's hash")
	f.StringVar(&o.Control.Store, "store", "", "config store: empty for the embedded bbolt file in --data-dir, or etcd://host:port[,host:port]")
	f.StringVar(&o.Control.AdminAddress, "admin-address", "127.0.0.1:9180", "admin API address ('off' to disable)")
	f.StringVar(&o.Control.AdminKeyFile, "admin-key-file", "", "file holding the admin API key, at least 16 bytes; wins over $PYLON_ADMIN_KEY (without either, a key is generated once and shown on the terminal)")
	f.StringVar(&o.Control.AdminTLSCert, "admin-tls-cert", "", "serve the admin API over TLS with this certificate")
	f.StringVar(&o.Control.AdminTLSKey, "admin-tls-key", "", "key of --admin-tls-cert")
	f.StringVar(&o.Control.NodeName, "node-name", defaultNodeName(), "this node's name in the cluster")
	f.BoolVar(&o.Kubernetes.Enabled, "kubernetes", false, "serve Kubernetes Ingresses (listeners still come from --config)")
	f.StringVar(&o.Kubernetes.Kubeconfig, "kubeconfig", "", "kubeconfig file for --kubernetes (default: as kubectl finds it: $KUBECONFIG, else ~/.kube/config, else in-cluster)")
	f.StringVar(&o.Kubernetes.IngressClass, "ingress-class", "pylon", "IngressClass name served with --kubernetes")
	f.StringVar(&o.Kubernetes.WatchNamespace, "watch-namespace", "", "watch only this namespace with --kubernetes (default: all)")
	f.StringSliceVar(&o.Kubernetes.PublishAddress, "publish-address", nil, "addresses (IPs or hostnames) the leader writes to Ingress status.loadBalancer")
	f.StringVar(&o.Kubernetes.Publish, "kubernetes-publish", "", "with --kubernetes: publish the translated config to etcd://host:port[,host:port] for a fleet of gateway nodes (run with --store on the same etcd) instead of needing listeners here")
	f.StringVar(&o.Locality.Zone, "zone", os.Getenv("PYLON_ZONE"), "this gateway's availability zone, for services that prefer endpoints in it (default $PYLON_ZONE; without either, the topology.kubernetes.io/zone label of the --kubernetes-node Node)")
	f.StringVar(&o.Locality.Node, "kubernetes-node", os.Getenv("NODE_NAME"), "the Kubernetes Node this gateway runs on, for PreferSameNode and its zone label (default $NODE_NAME; set it from spec.nodeName with the downward API)")
	f.StringVar(&o.Kubernetes.PeersService, "peers-service", "", "NAMESPACE/NAME of Pylon's own Service: its ready endpoints are the replicas cluster-mode limits divide by")
	f.StringVar(&logFormat, "log-format", "json", "log format: json or text")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return cmd
}

func validateCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check a config without serving it; prints every problem and exits 1 if there is any",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return fmt.Errorf("--config is required")
			}
			if n := app.Validate(path, cmd.OutOrStdout()); n > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d problem(s) found\n", n)
				return exitError(1)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "config is valid")
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "config file or directory")
	return cmd
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "pylon %s\n", version())
		},
	}
}

func newLogger(format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "pylon")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "pylon")
	}
	return "pylon-data"
}

func defaultNodeName() string {
	if h, err := os.Hostname(); err == nil {
		return h
	}
	return "pylon"
}
