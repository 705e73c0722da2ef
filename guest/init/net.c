/* net.c: hostname, loopback, eth0 and the /etc files that name them. Everything comes from the
 * validated walk.* parameters (cmdline.c); configuration uses ioctls, no helper programs. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "walk_init.h"

static void set_addr(struct sockaddr *sa, struct in_addr a)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr = a };
	memcpy(sa, &sin, sizeof sin);
}

static void ifreq_for(struct ifreq *r, const char *dev)
{
	memset(r, 0, sizeof *r);
	snprintf(r->ifr_name, sizeof r->ifr_name, "%s", dev);
}

static void iface_up(int s, const char *dev, struct in_addr ip, int prefix, int mtu)
{
	struct ifreq r;
	struct in_addr mask = { .s_addr = prefix == 0 ? 0 : htonl(~0u << (32 - prefix)) };
	if (mtu) {
		ifreq_for(&r, dev);
		r.ifr_mtu = mtu;
		if (ioctl(s, SIOCSIFMTU, &r) < 0)
			fatal(WERR_NETWORK, "cannot set the MTU of %s to %d: %s", dev, mtu, strerror(errno));
	}
	ifreq_for(&r, dev);
	set_addr(&r.ifr_addr, ip);
	if (ioctl(s, SIOCSIFADDR, &r) < 0)
		fatal(WERR_NETWORK, "cannot set the address of %s: %s", dev, strerror(errno));
	ifreq_for(&r, dev);
	set_addr(&r.ifr_netmask, mask);
	if (ioctl(s, SIOCSIFNETMASK, &r) < 0)
		fatal(WERR_NETWORK, "cannot set the netmask of %s: %s", dev, strerror(errno));
	ifreq_for(&r, dev);
	if (ioctl(s, SIOCGIFFLAGS, &r) < 0)
		fatal(WERR_NETWORK, "cannot read the flags of %s: %s", dev, strerror(errno));
	r.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &r) < 0)
		fatal(WERR_NETWORK, "cannot bring %s up: %s", dev, strerror(errno));
}

void net_setup(const struct walk_params *p)
{
	if (sethostname(p->hostname, strlen(p->hostname)) < 0)
		fatal(WERR_SETUP, "cannot set the hostname: %s", strerror(errno));
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		fatal(WERR_NETWORK, "cannot open a socket: %s", strerror(errno));
	iface_up(s, "lo", (struct in_addr){ .s_addr = htonl(INADDR_LOOPBACK) }, 8, 0);
	if (p->has_ip) {
		iface_up(s, "eth0", p->ip, p->prefix, p->mtu);
		if (p->has_gw) {
			struct rtentry rt;
			memset(&rt, 0, sizeof rt);
			set_addr(&rt.rt_dst, (struct in_addr){ 0 });
			set_addr(&rt.rt_genmask, (struct in_addr){ 0 });
			set_addr(&rt.rt_gateway, p->gw);
			rt.rt_flags = RTF_UP | RTF_GATEWAY;
			rt.rt_dev = "eth0";
			if (ioctl(s, SIOCADDRT, &rt) < 0)
				fatal(WERR_NETWORK, "cannot add the default route: %s", strerror(errno));
		}
	}
	close(s);
}

/* Replaces a file in the overlay with fresh content; an image's symlink there is removed, not
 * followed, so the write lands exactly at path. */
static void replace_file(const char *path, const char *content)
{
	if (unlink(path) < 0 && errno != ENOENT)
		fatal(WERR_SETUP, "cannot replace %s: %s", path, strerror(errno));
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		fatal(WERR_SETUP, "cannot create %s: %s", path, strerror(errno));
	size_t n = strlen(content);
	if (write(fd, content, n) != (ssize_t)n || close(fd) < 0)
		fatal(WERR_SETUP, "cannot write %s: %s", path, strerror(errno));
}

void etc_files_write(const struct walk_params *p)
{
	if (mkdir("/etc", 0755) < 0 && errno != EEXIST)
		fatal(WERR_SETUP, "cannot create /etc: %s", strerror(errno));
	char buf[512], ip[INET_ADDRSTRLEN];
	if (p->has_ip)
		inet_ntop(AF_INET, &p->ip, ip, sizeof ip);
	else
		strcpy(ip, "127.0.1.1");
	snprintf(buf, sizeof buf,
		 "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n", ip, p->hostname);
	replace_file("/etc/hosts", buf);
	if (p->ndns == 0)
		return; /* no DNS from the host: the image's own resolv.conf stays */
	size_t off = 0;
	for (int i = 0; i < p->ndns; i++) {
		char a[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &p->dns[i], a, sizeof a);
		off += (size_t)snprintf(buf + off, sizeof buf - off, "nameserver %s\n", a);
	}
	replace_file("/etc/resolv.conf", buf);
}
