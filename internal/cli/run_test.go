package cli

import "testing"

// TestZoneFlagsOverEnvironment: --zone and --kubernetes-node win over
// $PYLON_ZONE and $NODE_NAME, which fill them when they are not given.
func TestZoneFlagsOverEnvironment(t *testing.T) {
	t.Setenv("PYLON_ZONE", "env-zone")
	t.Setenv("NODE_NAME", "env-node")
	for _, c := range []struct {
		args       []string
		zone, node string
	}{
		{nil, "env-zone", "env-node"},
		{[]string{"--zone", "flag-zone"}, "flag-zone", "env-node"},
		{[]string{"--kubernetes-node", "flag-node", "--zone", ""}, "", "flag-node"},
	} {
		cmd := runCmd()
		if err := cmd.ParseFlags(c.args); err != nil {
			t.Fatal(err)
		}
		zone, node := cmd.Flags().Lookup("zone").Value.String(), cmd.Flags().Lookup("kubernetes-node").Value.String()
		if zone != c.zone || node != c.node {
			t.Errorf("%v: zone %q node %q, want %q %q", c.args, zone, node, c.zone, c.node)
		}
	}
}
