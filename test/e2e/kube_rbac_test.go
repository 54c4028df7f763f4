package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"pylon.io/pylon/test/testenv"
)

// TestKubeWithoutPodsPermission: a controller whose role predates gray
// tags (no list/watch on Pods) still becomes ready and serves its
// Ingresses, untagged, and says in its log what permission the tags need.
func TestKubeWithoutPodsPermission(t *testing.T) {
	t.Parallel()
	const user = "old-role"
	k := testenv.StartKube(t, testenv.WithRBAC(), testenv.WithUser(user))
	ctx := context.Background()
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: user}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses", "ingressclasses"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"services", "secrets", "nodes"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses/status"}, Verbs: []string{"update", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}},
	}}
	if _, err := k.Client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: user},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// An ExternalName Service needs no EndpointSlice: the backend is a
	// loopback echo server.
	port := testenv.FreePort(t)
	backendAt(t, "echo", "127.0.0.91", port)
	if _, err := k.Client.CoreV1().Services("shop").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "echo"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "127.0.0.91", Ports: []corev1.ServicePort{{Name: "http", Port: int32(port)}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ing := ingress("shop", "echo", "echo.kube.test", "/", networkingv1.PathTypePrefix, "echo")
	ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Number = int32(port)
	if _, err := k.Client.NetworkingV1().Ingresses("shop").Create(ctx, ing, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	listen := testenv.FreeAddr(t)
	gw := startGateway(t, fmt.Sprintf("listeners:\n  - name: web\n    address: %s\n    protocol: http\n", listen),
		"--kubernetes", "--kubeconfig", k.UserKubeconfig(t, user), "--publish-address", publishAddress)
	waitServed(t, listen, "echo.kube.test", "echo", 15*time.Second)
	if log := gw.proc.Log(); !strings.Contains(log, "pods cannot be listed (RBAC: list and watch on pods)") {
		t.Errorf("the log does not say which permission gray tags need:\n%s", log)
	}
}
