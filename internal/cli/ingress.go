package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/source/kubernetes/annotations"
	"pylon.io/pylon/internal/source/kubernetes/ingress"
)

func ingressCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "ingress", Short: "Tools for Kubernetes Ingress users"}
	cmd.AddCommand(ingressCheckCmd(), ingressAnnotationsCmd())
	return cmd
}

// ingressAnnotationsCmd prints the support table: every ingress-nginx
// annotation Pylon reads and what it does with it.
func ingressAnnotationsCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "annotations",
		Short: "List the ingress-nginx annotations Pylon reads and what it does with each",
		RunE: func(cmd *cobra.Command, _ []string) error {
			table := annotations.Table()
			switch output {
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(table)
			case "table":
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "ANNOTATION\tSTATUS\tWHAT PYLON DOES")
				for _, s := range table {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, s.Status, s.How)
				}
				fmt.Fprintf(tw, "*-snippet\t%s\t%s\n", annotations.Rejected, annotations.SnippetMessage)
				return tw.Flush()
			}
			return fmt.Errorf("ingress annotations: -o must be table or json (got %q)", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func ingressCheckCmd() *cobra.Command {
	var o struct {
		files      []string
		kube       bool
		kubeconfig string
		namespace  string
		output     string
	}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Report, for each Ingress, what Pylon does with each ingress-nginx annotation; exits 1 if an Ingress or an annotation would be rejected",
		Long: `check translates Ingresses exactly as the controller does and reports, per
annotation, whether Pylon honours it, approximates it (and how), does not
support it, or rejects it. An Ingress with a rejected annotation (a raw nginx
snippet is one) counts as rejected, even where the controller serves the
rest of it. Ingresses come from YAML or JSON files (-f, which
also reads the Services and Secrets they refer to; absent ones are assumed to
exist) or from a live cluster (--kubernetes).`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(o.files) == 0 && !o.kube {
				return fmt.Errorf("ingress check: give -f FILE|DIR or --kubernetes")
			}
			if o.output != "table" && o.output != "json" {
				return fmt.Errorf("ingress check: -o must be table or json (got %q)", o.output)
			}
			var ings []*networkingv1.Ingress
			var l lenientLookup
			if o.kube {
				k, err := kubeInventory(cmd.Context(), o.kubeconfig, o.namespace)
				if err != nil {
					return err
				}
				ings, l.base, l.strict = k.ingresses, k, true
			} else {
				inv := &fileInventory{services: map[string]*corev1.Service{}, secrets: map[string]*corev1.Secret{}}
				for _, f := range o.files {
					if err := inv.load(f); err != nil {
						return err
					}
				}
				ings, l.base = inv.ingresses, inv
			}
			reports := checkIngresses(ings, &l)
			if err := writeReports(cmd.OutOrStdout(), o.output, reports); err != nil {
				return err
			}
			for _, r := range reports {
				if r.Verdict == verdictRejected {
					return exitError(1)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&o.files, "filename", "f", nil, "YAML or JSON file, or directory of them (repeatable)")
	f.BoolVar(&o.kube, "kubernetes", false, "read the Ingresses from the cluster (found as kubectl does: --kubeconfig, else $KUBECONFIG, else ~/.kube/config, else in-cluster)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file for --kubernetes")
	f.StringVarP(&o.namespace, "namespace", "n", "", "with --kubernetes: only this namespace (default all)")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	return cmd
}

// Verdicts, per Ingress.
const (
	verdictReady       = "ready"        // every annotation honoured
	verdictApproximate = "approximated" // served, but some annotation behaves differently or is ignored
	verdictRejected    = "rejected"     // Pylon would refuse the Ingress, or one of its annotations
)

// ingressReport is one Ingress's check result.
type ingressReport struct {
	Ingress     string             `json:"ingress"`
	Verdict     string             `json:"verdict"`
	Error       string             `json:"error,omitempty"`
	Assumed     []string           `json:"assumed,omitempty"`
	Conflicts   []string           `json:"conflicts,omitempty"`
	Annotations []annotations.Note `json:"annotations"`
}

func checkIngresses(ings []*networkingv1.Ingress, l *lenientLookup) []ingressReport {
	sort.Slice(ings, func(i, j int) bool {
		return ings[i].Namespace+"/"+ings[i].Name < ings[j].Namespace+"/"+ings[j].Name
	})
	out := make([]ingressReport, 0, len(ings))
	claims := map[string][]int{} // conflict key → Ingresses (indexes) whose routes want it
	for i, ing := range ings {
		l.assumed, l.ing = nil, ing
		res := ingress.Translate(ing, l, ingress.Options{})
		r := ingressReport{Ingress: ing.Namespace + "/" + ing.Name, Verdict: verdictReady, Assumed: l.assumed, Annotations: res.Notes}
		if r.Annotations == nil {
			r.Annotations = []annotations.Note{}
		}
		for _, n := range res.Notes {
			switch {
			case n.Status == annotations.Rejected:
				// A refused snippet leaves the rest of the Ingress served,
				// but what it asked for is not done: the author must act
				// before migrating, as for a refused Ingress.
				r.Verdict = verdictRejected
			case n.Status != annotations.Honoured && r.Verdict == verdictReady:
				r.Verdict = verdictApproximate
			}
		}
		if res.Err != nil {
			r.Verdict, r.Error = verdictRejected, res.Err.Error()
		}
		for _, o := range res.Objects {
			if rt, ok := o.(*ir.Route); ok {
				k := ingress.ConflictKey(rt)
				claims[k] = append(claims[k], i)
			}
		}
		out = append(out, r)
	}
	// As the controller does: of Ingresses claiming the same host and
	// match, the oldest serves it; the others are told.
	keys := make([]string, 0, len(claims))
	for k := range claims {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		idx := claims[k]
		if len(idx) < 2 {
			continue
		}
		win := idx[0]
		for _, i := range idx[1:] {
			if ings[i].CreationTimestamp.Before(&ings[win].CreationTimestamp) {
				win = i
			}
		}
		for _, i := range idx {
			if i != win {
				out[i].Conflicts = append(out[i].Conflicts, fmt.Sprintf("%s is served by the older Ingress %s", k, out[win].Ingress))
				if out[i].Verdict == verdictReady {
					out[i].Verdict = verdictApproximate
				}
			}
		}
	}
	return out
}

func writeReports(w io.Writer, format string, reports []ingressReport) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(reports)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INGRESS\tANNOTATION\tSTATUS\tDETAILS")
	count := map[string]int{}
	for _, r := range reports {
		count[r.Verdict]++
		for _, n := range r.Annotations {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Ingress, n.Annotation, n.Status, n.Message)
		}
		if len(r.Annotations) == 0 && r.Error == "" {
			fmt.Fprintf(tw, "%s\t-\t%s\tno ingress-nginx annotations\n", r.Ingress, verdictReady)
		}
		for _, c := range r.Conflicts {
			fmt.Fprintf(tw, "%s\t-\tconflict\t%s\n", r.Ingress, c)
		}
		for _, a := range r.Assumed {
			fmt.Fprintf(tw, "%s\t-\tassumed\t%s\n", r.Ingress, a)
		}
		if r.Error != "" {
			// Annotation errors are on their annotation's line already.
			msg := strings.TrimPrefix(r.Error, "ingress "+r.Ingress+": ")
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(line, "annotation ") {
					fmt.Fprintf(tw, "%s\t-\t%s\t%s\n", r.Ingress, verdictRejected, line)
				}
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d Ingress(es): %d ready, %d approximated, %d rejected\n",
		len(reports), count[verdictReady], count[verdictApproximate], count[verdictRejected])
	return err
}

// lenientLookup answers from base, and assumes a Service or Secret that is
// not there exists (recording it), so checking a directory of Ingresses
// without their Services still reports on every annotation.
type lenientLookup struct {
	base    ingress.Lookup
	ing     *networkingv1.Ingress // the Ingress being checked
	assumed []string
	// strict: objects missing from a live cluster are really missing; only
	// Secrets the user may not read are assumed.
	strict bool
}

func (l *lenientLookup) Service(ns, name string) (*corev1.Service, bool) {
	if s, ok := l.base.Service(ns, name); ok || l.strict {
		return s, ok
	}
	l.assumed = append(l.assumed, fmt.Sprintf("service %s/%s exists (not found; its ports were not checked)", ns, name))
	// Stand in with every port the Ingress asks of it.
	s := &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	s.Name, s.Namespace = name, ns
	backends := []*networkingv1.IngressBackend{l.ing.Spec.DefaultBackend}
	for _, r := range l.ing.Spec.Rules {
		if r.HTTP != nil {
			for i := range r.HTTP.Paths {
				backends = append(backends, &r.HTTP.Paths[i].Backend)
			}
		}
	}
	for _, b := range backends {
		if b != nil && b.Service != nil && b.Service.Name == name {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: b.Service.Port.Name, Port: b.Service.Port.Number})
		}
	}
	return s, true
}

func (l *lenientLookup) Secret(ns, name string) (*corev1.Secret, bool) {
	if s, ok := l.base.Secret(ns, name); ok {
		return s, true
	}
	if k, isKube := l.base.(*kubeObjects); isKube && !k.forbidden(ns, name) {
		return nil, false
	}
	l.assumed = append(l.assumed, fmt.Sprintf("secret %s/%s exists (not found or not readable; its content was not checked)", ns, name))
	s := &corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{
		corev1.TLSCertKey: []byte("assumed"), corev1.TLSPrivateKeyKey: []byte("assumed"), "ca.crt": []byte("assumed"), "auth": []byte("user:{SHA}assumed"),
	}}
	s.Name, s.Namespace = name, ns
	return s, true
}
