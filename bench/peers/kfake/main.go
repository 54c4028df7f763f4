// Command kfake runs franz-go's in-process Kafka cluster (pkg/kfake) on a
// 127.0.0.1 port, as the broker of the Kafka access log benchmark: these
// machines have no Kafka. It exits on SIGTERM.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 9092, "port on 127.0.0.1")
	topic := flag.String("topic", "pylon-access", "topic to create")
	partitions := flag.Int("partitions", 4, "partitions of the topic")
	flag.Parse()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(*port), kfake.SeedTopics(int32(*partitions), *topic),
		kfake.ListenFn(func(network, _ string) (_ net.Listener, err error) {
			return net.Listen(network, fmt.Sprintf("127.0.0.1:%d", *port))
		}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.ListenAddrs()[0])
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	c.Close()
}
