package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
)

// fileInventory holds the objects read from files.
type fileInventory struct {
	ingresses []*networkingv1.Ingress
	services  map[string]*corev1.Service
	secrets   map[string]*corev1.Secret
}

func (f *fileInventory) Service(ns, name string) (*corev1.Service, bool) {
	s, ok := f.services[ns+"/"+name]
	return s, ok
}

func (f *fileInventory) Secret(ns, name string) (*corev1.Secret, bool) {
	s, ok := f.secrets[ns+"/"+name]
	return s, ok
}

var kubeDecoder = func() runtime.Decoder {
	s := runtime.NewScheme()
	_ = corev1.AddToScheme(s)
	_ = networkingv1.AddToScheme(s)
	return serializer.NewCodecFactory(s).UniversalDeserializer()
}()

// load reads a file, or every .yaml, .yml and .json file under a directory.
func (f *fileInventory) load(path string) error {
	return filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if p != path && !strings.HasSuffix(p, ".yaml") && !strings.HasSuffix(p, ".yml") && !strings.HasSuffix(p, ".json") {
			return nil
		}
		return f.loadFile(p)
	})
}

func (f *fileInventory) loadFile(path string) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	r := k8syaml.NewYAMLReader(bufio.NewReader(fh))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if len(strings.TrimSpace(string(doc))) == 0 {
			continue
		}
		if err := f.add(path, doc); err != nil {
			return err
		}
	}
}

// add decodes one document; kinds other than Ingress, Service, Secret and
// List are skipped, so a whole manifest directory can be checked.
func (f *fileInventory) add(path string, doc []byte) error {
	obj, _, err := kubeDecoder.Decode(doc, nil, nil)
	if runtime.IsNotRegisteredError(err) || runtime.IsMissingKind(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	switch x := obj.(type) {
	case *networkingv1.Ingress:
		defaultNamespace(&x.Namespace)
		f.ingresses = append(f.ingresses, x)
	case *corev1.Service:
		defaultNamespace(&x.Namespace)
		f.services[x.Namespace+"/"+x.Name] = x
	case *corev1.Secret:
		defaultNamespace(&x.Namespace)
		if x.Data == nil {
			x.Data = map[string][]byte{}
		}
		for k, v := range x.StringData {
			x.Data[k] = []byte(v)
		}
		f.secrets[x.Namespace+"/"+x.Name] = x
	case *corev1.List:
		for _, it := range x.Items {
			if err := f.add(path, it.Raw); err != nil {
				return err
			}
		}
	}
	return nil
}

func defaultNamespace(ns *string) {
	if *ns == "" {
		*ns = "default"
	}
}
