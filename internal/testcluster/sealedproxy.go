package testcluster

import (
	"context"
	"io"
	"net"
	"net/url"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// ServeSealedSecretsThroughProxy makes the sealed-secrets controller (SharedWithSealedSecrets)
// reachable through the API server's service proxy as the Service namespace/name, port "http",
// as kubeseal and the plugin reach it in a cluster (see ServeThroughProxy).
func (c *Cluster) ServeSealedSecretsThroughProxy(t testing.TB, namespace, name, podName string) {
	t.Helper()
	c.mu.Lock()
	raw := c.SealedSecretsCertURL
	c.mu.Unlock()
	certURL, err := url.Parse(raw)
	if err != nil || certURL.Host == "" {
		t.Fatalf("the sealed-secrets controller's certificate URL %q: %v (start the cluster with SharedWithSealedSecrets)", raw, err)
	}
	c.ServeThroughProxy(t, namespace, name, 8080, podName, certURL.Host)
}

// ServeThroughProxy makes the server at addr (HOST:PORT, a controller of this cluster) reachable
// through the API server's service proxy as the Service namespace/name, port "http" numbered
// servicePort, as clients reach the controllers of a cluster. The controllers run on loopback,
// outside any pod, and the API server proxies only to a pod IP an EndpointSlice names: so a
// forwarder on this machine's non-loopback address, a Pod object with that address, the
// Service and its EndpointSlice stand in for the cluster's. podName names the Pod object (tests
// sharing the cluster use their own). It skips the test where there is no such address, and
// undoes it all when the test ends.
func (c *Cluster) ServeThroughProxy(t testing.TB, namespace, name string, servicePort int32, podName, addr string) {
	t.Helper()
	ip := externalIPv4()
	if ip == "" {
		t.Skip("no non-loopback IPv4 address: the API server's service proxy refuses loopback endpoints, so the controller cannot be reached through it here")
	}
	port := forward(t, ip, addr)
	ctx := context.Background()
	kube := kubernetes.NewForConfigOrDie(c.RESTConfig())
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: podName, Namespace: namespace},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "controller", Image: "controller"}}},
	}
	service := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: servicePort, TargetPort: intstr.FromInt32(port)}}},
	}
	ready := true
	httpName, tcp := "http", corev1.ProtocolTCP
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: podName, Namespace: namespace, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: namespace, Name: pod.Name},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: &httpName, Port: &port, Protocol: &tcp}},
	}
	t.Cleanup(func() {
		zero := int64(0)
		_ = kube.DiscoveryV1().EndpointSlices(namespace).Delete(ctx, slice.Name, metav1.DeleteOptions{})
		_ = kube.CoreV1().Services(namespace).Delete(ctx, name, metav1.DeleteOptions{})
		_ = kube.CoreV1().Pods(namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	})
	created, err := kube.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating the controller's Pod object: %v", err)
	}
	created.Status.PodIP = ip
	created.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	if _, err := kube.CoreV1().Pods(namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("giving the Pod its IP: %v", err)
	}
	if _, err := kube.CoreV1().Services(namespace).Create(ctx, service, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating the Service: %v", err)
	}
	if _, err := kube.DiscoveryV1().EndpointSlices(namespace).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the EndpointSlice: %v", err)
	}
}

func externalIPv4() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}

// forward relays connections from ip:PORT to target until the test ends, and returns PORT.
func forward(t testing.TB, ip, target string) int32 {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Skipf("cannot listen on %s, the address the API server would proxy to: %v", ip, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				out, err := net.Dial("tcp", target)
				if err != nil {
					in.Close()
					return
				}
				// Whichever side ends first ends both.
				go func() { _, _ = io.Copy(out, in); in.Close(); out.Close() }()
				_, _ = io.Copy(in, out)
				in.Close()
				out.Close()
			}()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	n, _ := strconv.Atoi(port)
	return int32(n)
}
