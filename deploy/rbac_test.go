package deploy

import (
	"context"
	"os"
	"testing"

	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"pylon.io/pylon/test/testenv"
)

// TestRBACLeastPrivilege loads deploy/rbac.yaml into a real API server
// running RBAC, binds it to a user, and asks the API server what that user
// may do: everything the controller needs, and nothing that would let a
// compromised controller change the cluster.
func TestRBACLeastPrivilege(t *testing.T) {
	const user = "pylon-controller"
	k := testenv.StartKube(t, testenv.WithRBAC(), testenv.WithUser(user))
	ctx := context.Background()
	admin := k.Client
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "pylon"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The manifests bind the pylon ServiceAccount; bind the test user the
	// same way.
	asUser := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}
	for _, o := range decodeAll(t, "rbac.yaml", data) {
		switch x := o.(type) {
		case *rbacv1.ClusterRole:
			_, err = admin.RbacV1().ClusterRoles().Create(ctx, x, metav1.CreateOptions{})
		case *rbacv1.ClusterRoleBinding:
			x.Subjects = asUser
			_, err = admin.RbacV1().ClusterRoleBindings().Create(ctx, x, metav1.CreateOptions{})
		case *rbacv1.Role:
			_, err = admin.RbacV1().Roles(x.Namespace).Create(ctx, x, metav1.CreateOptions{})
		case *rbacv1.RoleBinding:
			x.Subjects = asUser
			_, err = admin.RbacV1().RoleBindings(x.Namespace).Create(ctx, x, metav1.CreateOptions{})
		case *corev1.ServiceAccount:
			_, err = admin.CoreV1().ServiceAccounts(x.Namespace).Create(ctx, x, metav1.CreateOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", k.UserKubeconfig(t, user))
	if err != nil {
		t.Fatal(err)
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	type access struct {
		verb, group, resource, sub, ns string
	}
	allowed := []access{
		{"list", "networking.k8s.io", "ingresses", "", ""},
		{"watch", "networking.k8s.io", "ingresses", "", "apps"},
		{"list", "networking.k8s.io", "ingressclasses", "", ""},
		{"watch", "", "services", "", ""},
		{"list", "", "secrets", "", ""},
		{"watch", "discovery.k8s.io", "endpointslices", "", ""},
		{"update", "networking.k8s.io", "ingresses", "status", "apps"},
		{"create", "", "events", "", "apps"},
		{"patch", "", "events", "", "apps"},
		{"get", "coordination.k8s.io", "leases", "", "pylon"},
		{"create", "coordination.k8s.io", "leases", "", "pylon"},
		{"update", "coordination.k8s.io", "leases", "", "pylon"},
		{"get", "", "nodes", "", ""},
		{"list", "", "nodes", "", ""},
		{"watch", "", "nodes", "", ""},
		{"list", "", "pods", "", ""},
		{"watch", "", "pods", "", "apps"},
	}
	denied := []access{
		{"update", "networking.k8s.io", "ingresses", "", "apps"},
		{"delete", "networking.k8s.io", "ingresses", "", "apps"},
		{"create", "", "secrets", "", "apps"},
		{"update", "", "secrets", "", "apps"},
		{"update", "", "services", "", "apps"},
		{"get", "", "pods", "", "apps"},
		{"update", "", "pods", "", "apps"},
		{"delete", "", "pods", "", "apps"},
		{"create", "", "pods", "exec", "apps"},
		{"get", "", "pods", "log", "apps"},
		{"update", "", "nodes", "", ""},
		{"patch", "", "nodes", "status", ""},
		{"create", "", "pods", "", "apps"},
		{"update", "discovery.k8s.io", "endpointslices", "", "apps"},
		{"update", "coordination.k8s.io", "leases", "", "kube-system"},
		{"list", "", "configmaps", "", ""},
		{"escalate", "rbac.authorization.k8s.io", "clusterroles", "", ""},
		{"impersonate", "", "users", "", ""},
	}
	check := func(a access, want bool) {
		r, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authzv1.SelfSubjectAccessReview{
			Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authzv1.ResourceAttributes{
				Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.sub, Namespace: a.ns,
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status.Allowed != want {
			t.Errorf("%s %s/%s %s in %q: allowed=%v, want %v", a.verb, a.group, a.resource, a.sub, a.ns, r.Status.Allowed, want)
		}
	}
	for _, a := range allowed {
		check(a, true)
	}
	for _, a := range denied {
		check(a, false)
	}
}
