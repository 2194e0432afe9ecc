/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * ibverbs_private.h - the part of libibverbs' provider interface that the
 * softrxe provider uses, declared by softodp (not taken from rdma-core).
 *
 * libibverbs (rdma-core) keeps its provider interface in driver.h, which is
 * not installed by Debian's libibverbs-dev. The interface is versioned as a
 * whole: every symbol of it carries the ELF symbol version
 * IBVERBS_PRIVATE_<n>, and the registration entry point is named
 * verbs_register_driver_<n>, so that a provider built against one layout
 * can never bind to a library with another. rdma-core bumps <n> whenever a
 * structure below changes. This file states the layouts and prototypes of
 * private ABI 34 (rdma-core v34 .. v50 at least, Debian 12 ships v44).
 *
 * Only what softrxe touches is declared. The build (abi-check.sh) verifies,
 * before linking, that the installed libibverbs exports every private
 * symbol the provider's objects reference under IBVERBS_PRIVATE_<n> with
 * the <n> given here; a mismatch stops the build.
 */
#ifndef SOFTRXE_IBVERBS_PRIVATE_H
#define SOFTRXE_IBVERBS_PRIVATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <infiniband/verbs.h>
#include <rdma/ib_user_verbs.h>

/* The private ABI generation this file describes. */
#define IBVERBS_PABI_VERSION 34

#define SOFTRXE_PASTE_(a, b) a##b
#define SOFTRXE_PASTE(a, b) SOFTRXE_PASTE_(a, b)

/* libibverbs looks for "<name>-rdmav<n>.so" (VERBS_PROVIDER_SUFFIX). */
#define SOFTRXE_STR_(x) #x
#define SOFTRXE_STR(x) SOFTRXE_STR_(x)
#define IBVERBS_PROVIDER_SUFFIX "-rdmav" SOFTRXE_STR(IBVERBS_PABI_VERSION) ".so"

/* ------------------------------------------------------------------------
 * Device matching and registration
 */

/* verbs_match_ent.kind */
enum {
	VERBS_MATCH_SENTINEL = 0,
	VERBS_MATCH_PCI = 1,
	VERBS_MATCH_MODALIAS = 2,
	VERBS_MATCH_DRIVER_ID = 3,
};

/* One row of a provider's match table; a zeroed row ends the table. */
struct verbs_match_ent {
	void *driver_data;
	union {
		const char *modalias;	/* fnmatch() pattern, MODALIAS kind */
		uint64_t driver_id;	/* enum rdma_driver_id, DRIVER_ID kind */
	} u;
	uint16_t vendor;
	uint16_t device;
	uint8_t kind;
};

/* The device libibverbs found in sysfs/netlink; softrxe never looks inside. */
struct verbs_sysfs_dev;
struct verbs_device;
struct verbs_context;

/* What a provider hands to verbs_register_driver_<n>(). */
struct verbs_device_ops {
	const char *name;
	uint32_t match_min_abi_version;
	uint32_t match_max_abi_version;
	const struct verbs_match_ent *match_table;
	const struct verbs_device_ops **static_providers;
	bool (*match_device)(struct verbs_sysfs_dev *sysfs_dev);
	struct verbs_context *(*alloc_context)(struct ibv_device *device,
					       int cmd_fd, void *private_data);
	struct verbs_context *(*import_context)(struct ibv_device *device,
						int cmd_fd);
	struct verbs_device *(*alloc_device)(struct verbs_sysfs_dev *sysfs_dev);
	void (*uninit_device)(struct verbs_device *device);
};

/* ccan list_node as embedded by libibverbs. */
struct ibverbs_list_node {
	struct ibverbs_list_node *next;
	struct ibverbs_list_node *prev;
};

/*
 * The provider allocates this (embedded first in its own device struct) in
 * alloc_device(); libibverbs fills in everything after 'device'.
 */
struct verbs_device {
	struct ibv_device device;		/* must stay first */
	const struct verbs_device_ops *ops;
	atomic_int refcount;
	struct ibverbs_list_node entry;
	struct verbs_sysfs_dev *sysfs;
	uint64_t core_support;
};

#define verbs_register_driver SOFTRXE_PASTE(verbs_register_driver_, IBVERBS_PABI_VERSION)
void verbs_register_driver(const struct verbs_device_ops *ops);

/* ------------------------------------------------------------------------
 * Objects libibverbs and the provider share
 */

enum ibv_mr_type {
	IBV_MR_TYPE_MR,
	IBV_MR_TYPE_NULL_MR,
	IBV_MR_TYPE_IMPORTED_MR,
	IBV_MR_TYPE_DMABUF_MR,
};

struct verbs_mr {
	struct ibv_mr ibv_mr;
	enum ibv_mr_type mr_type;
	int access;
};

struct verbs_xrcd;

/* verbs_qp.comp_mask */
enum {
	VERBS_QP_XRCD = 1 << 0,
	VERBS_QP_EX = 1 << 1,	/* ibv_qp_to_qp_ex() may hand out qp_ex */
};

struct verbs_qp {
	union {
		struct ibv_qp qp;
		struct ibv_qp_ex qp_ex;
	};
	uint32_t comp_mask;
	struct verbs_xrcd *xrcd;
};

struct verbs_cq {
	union {
		struct ibv_cq cq;
		struct ibv_cq_ex cq_ex;
	};
};

struct verbs_srq {
	struct ibv_srq srq;
	enum ibv_srq_type srq_type;
	struct verbs_xrcd *xrcd;
	struct ibv_cq *cq;
	uint32_t srq_num;
};

/*
 * The provider's operation table, copied into the context by
 * verbs_set_ops(); NULL members fall back to libibverbs' EOPNOTSUPP stubs.
 * The order is the ABI (rdma-core keeps it alphabetical).
 */
struct verbs_context_ops {
	int (*advise_mr)(struct ibv_pd *pd, enum ibv_advise_mr_advice advice,
			 uint32_t flags, struct ibv_sge *sg_list,
			 uint32_t num_sges);
	struct ibv_dm *(*alloc_dm)(struct ibv_context *context,
				   struct ibv_alloc_dm_attr *attr);
	struct ibv_mw *(*alloc_mw)(struct ibv_pd *pd, enum ibv_mw_type type);
	struct ibv_mr *(*alloc_null_mr)(struct ibv_pd *pd);
	struct ibv_pd *(*alloc_parent_domain)(struct ibv_context *context,
					      struct ibv_parent_domain_init_attr *attr);
	struct ibv_pd *(*alloc_pd)(struct ibv_context *context);
	struct ibv_td *(*alloc_td)(struct ibv_context *context,
				   struct ibv_td_init_attr *init_attr);
	void (*async_event)(struct ibv_context *context,
			    struct ibv_async_event *event);
	int (*attach_counters_point_flow)(struct ibv_counters *counters,
					  struct ibv_counter_attach_attr *attr,
					  struct ibv_flow *flow);
	int (*attach_mcast)(struct ibv_qp *qp, const union ibv_gid *gid,
			    uint16_t lid);
	int (*bind_mw)(struct ibv_qp *qp, struct ibv_mw *mw,
		       struct ibv_mw_bind *mw_bind);
	int (*close_xrcd)(struct ibv_xrcd *xrcd);
	void (*cq_event)(struct ibv_cq *cq);
	struct ibv_ah *(*create_ah)(struct ibv_pd *pd, struct ibv_ah_attr *attr);
	struct ibv_counters *(*create_counters)(struct ibv_context *context,
						struct ibv_counters_init_attr *init_attr);
	struct ibv_cq *(*create_cq)(struct ibv_context *context, int cqe,
				    struct ibv_comp_channel *channel,
				    int comp_vector);
	struct ibv_cq_ex *(*create_cq_ex)(struct ibv_context *context,
					  struct ibv_cq_init_attr_ex *init_attr);
	struct ibv_flow *(*create_flow)(struct ibv_qp *qp,
					struct ibv_flow_attr *flow_attr);
	struct ibv_flow_action *(*create_flow_action_esp)(struct ibv_context *context,
							  struct ibv_flow_action_esp_attr *attr);
	struct ibv_qp *(*create_qp)(struct ibv_pd *pd,
				    struct ibv_qp_init_attr *attr);
	struct ibv_qp *(*create_qp_ex)(struct ibv_context *context,
				       struct ibv_qp_init_attr_ex *qp_init_attr_ex);
	struct ibv_rwq_ind_table *(*create_rwq_ind_table)(struct ibv_context *context,
							  struct ibv_rwq_ind_table_init_attr *init_attr);
	struct ibv_srq *(*create_srq)(struct ibv_pd *pd,
				      struct ibv_srq_init_attr *srq_init_attr);
	struct ibv_srq *(*create_srq_ex)(struct ibv_context *context,
					 struct ibv_srq_init_attr_ex *srq_init_attr_ex);
	struct ibv_wq *(*create_wq)(struct ibv_context *context,
				    struct ibv_wq_init_attr *wq_init_attr);
	int (*dealloc_mw)(struct ibv_mw *mw);
	int (*dealloc_pd)(struct ibv_pd *pd);
	int (*dealloc_td)(struct ibv_td *td);
	int (*dereg_mr)(struct verbs_mr *vmr);
	int (*destroy_ah)(struct ibv_ah *ah);
	int (*destroy_counters)(struct ibv_counters *counters);
	int (*destroy_cq)(struct ibv_cq *cq);
	int (*destroy_flow)(struct ibv_flow *flow);
	int (*destroy_flow_action)(struct ibv_flow_action *action);
	int (*destroy_qp)(struct ibv_qp *qp);
	int (*destroy_rwq_ind_table)(struct ibv_rwq_ind_table *rwq_ind_table);
	int (*destroy_srq)(struct ibv_srq *srq);
	int (*destroy_wq)(struct ibv_wq *wq);
	int (*detach_mcast)(struct ibv_qp *qp, const union ibv_gid *gid,
			    uint16_t lid);
	void (*free_context)(struct ibv_context *context);
	int (*free_dm)(struct ibv_dm *dm);
	int (*get_srq_num)(struct ibv_srq *srq, uint32_t *srq_num);
	struct ibv_dm *(*import_dm)(struct ibv_context *context,
				    uint32_t dm_handle);
	struct ibv_mr *(*import_mr)(struct ibv_pd *pd, uint32_t mr_handle);
	struct ibv_pd *(*import_pd)(struct ibv_context *context,
				    uint32_t pd_handle);
	int (*modify_cq)(struct ibv_cq *cq, struct ibv_modify_cq_attr *attr);
	int (*modify_flow_action_esp)(struct ibv_flow_action *action,
				      struct ibv_flow_action_esp_attr *attr);
	int (*modify_qp)(struct ibv_qp *qp, struct ibv_qp_attr *attr,
			 int attr_mask);
	int (*modify_qp_rate_limit)(struct ibv_qp *qp,
				    struct ibv_qp_rate_limit_attr *attr);
	int (*modify_srq)(struct ibv_srq *srq, struct ibv_srq_attr *srq_attr,
			  int srq_attr_mask);
	int (*modify_wq)(struct ibv_wq *wq, struct ibv_wq_attr *wq_attr);
	struct ibv_qp *(*open_qp)(struct ibv_context *context,
				  struct ibv_qp_open_attr *attr);
	struct ibv_xrcd *(*open_xrcd)(struct ibv_context *context,
				      struct ibv_xrcd_init_attr *xrcd_init_attr);
	int (*poll_cq)(struct ibv_cq *cq, int num_entries, struct ibv_wc *wc);
	int (*post_recv)(struct ibv_qp *qp, struct ibv_recv_wr *wr,
			 struct ibv_recv_wr **bad_wr);
	int (*post_send)(struct ibv_qp *qp, struct ibv_send_wr *wr,
			 struct ibv_send_wr **bad_wr);
	int (*post_srq_ops)(struct ibv_srq *srq, struct ibv_ops_wr *op,
			    struct ibv_ops_wr **bad_op);
	int (*post_srq_recv)(struct ibv_srq *srq, struct ibv_recv_wr *recv_wr,
			     struct ibv_recv_wr **bad_recv_wr);
	int (*query_device_ex)(struct ibv_context *context,
			       const struct ibv_query_device_ex_input *input,
			       struct ibv_device_attr_ex *attr,
			       size_t attr_size);
	int (*query_ece)(struct ibv_qp *qp, struct ibv_ece *ece);
	int (*query_port)(struct ibv_context *context, uint8_t port_num,
			  struct ibv_port_attr *port_attr);
	int (*query_qp)(struct ibv_qp *qp, struct ibv_qp_attr *attr,
			int attr_mask, struct ibv_qp_init_attr *init_attr);
	int (*query_qp_data_in_order)(struct ibv_qp *qp, enum ibv_wr_opcode op,
				      uint32_t flags);
	int (*query_rt_values)(struct ibv_context *context,
			       struct ibv_values_ex *values);
	int (*query_srq)(struct ibv_srq *srq, struct ibv_srq_attr *srq_attr);
	int (*read_counters)(struct ibv_counters *counters,
			     uint64_t *counters_value, uint32_t ncounters,
			     uint32_t flags);
	struct ibv_mr *(*reg_dm_mr)(struct ibv_pd *pd, struct ibv_dm *dm,
				    uint64_t dm_offset, size_t length,
				    unsigned int access);
	struct ibv_mr *(*reg_dmabuf_mr)(struct ibv_pd *pd, uint64_t offset,
					size_t length, uint64_t iova, int fd,
					int access);
	struct ibv_mr *(*reg_mr)(struct ibv_pd *pd, void *addr, size_t length,
				 uint64_t hca_va, int access);
	int (*req_notify_cq)(struct ibv_cq *cq, int solicited_only);
	int (*rereg_mr)(struct verbs_mr *vmr, int flags, struct ibv_pd *pd,
			void *addr, size_t length, int access);
	int (*resize_cq)(struct ibv_cq *cq, int cqe);
	int (*set_ece)(struct ibv_qp *qp, struct ibv_ece *ece);
	void (*unimport_dm)(struct ibv_dm *dm);
	void (*unimport_mr)(struct ibv_mr *mr);
	void (*unimport_pd)(struct ibv_pd *pd);
};

/* 76 operations in private ABI 34; a miscount here corrupts the copy. */
_Static_assert(sizeof(struct verbs_context_ops) == 76 * sizeof(void *),
	       "verbs_context_ops does not have the 76 slots of private ABI 34");
_Static_assert(offsetof(struct verbs_context_ops, poll_cq) == 53 * sizeof(void *),
	       "verbs_context_ops.poll_cq is not slot 53");
_Static_assert(offsetof(struct verbs_context_ops, unimport_pd) == 75 * sizeof(void *),
	       "verbs_context_ops.unimport_pd is not the last slot");

/* ------------------------------------------------------------------------
 * Command buffers
 *
 * The ibv_cmd_* helpers take a buffer that starts with room for the
 * legacy write() header and the core request (libibverbs fills both);
 * the provider's own request, if any, follows immediately. Responses are
 * laid out alike: the core response, then the provider's part.
 */
#define IBVERBS_WRITE_CMD(tag, core)                                          \
	struct tag {                                                          \
		struct ib_uverbs_cmd_hdr hdr;                                 \
		struct core core_payload;                                     \
	}
#define IBVERBS_WRITE_CMD_EX(tag, core)                                       \
	struct tag {                                                          \
		struct ib_uverbs_cmd_hdr hdr;                                 \
		struct ib_uverbs_ex_cmd_hdr ex_hdr;                           \
		struct core core_payload;                                     \
	}

IBVERBS_WRITE_CMD(ibv_get_context, ib_uverbs_get_context);
IBVERBS_WRITE_CMD(ibv_query_port, ib_uverbs_query_port);
IBVERBS_WRITE_CMD(ibv_alloc_pd, ib_uverbs_alloc_pd);
IBVERBS_WRITE_CMD(ibv_reg_mr, ib_uverbs_reg_mr);
IBVERBS_WRITE_CMD(ibv_rereg_mr, ib_uverbs_rereg_mr);
IBVERBS_WRITE_CMD(ibv_alloc_mw, ib_uverbs_alloc_mw);
IBVERBS_WRITE_CMD(ibv_create_cq, ib_uverbs_create_cq);
IBVERBS_WRITE_CMD_EX(ibv_create_cq_ex, ib_uverbs_ex_create_cq);
IBVERBS_WRITE_CMD(ibv_resize_cq, ib_uverbs_resize_cq);
IBVERBS_WRITE_CMD(ibv_create_srq, ib_uverbs_create_srq);
IBVERBS_WRITE_CMD(ibv_create_xsrq, ib_uverbs_create_xsrq);
IBVERBS_WRITE_CMD(ibv_modify_srq, ib_uverbs_modify_srq);
IBVERBS_WRITE_CMD(ibv_query_srq, ib_uverbs_query_srq);
IBVERBS_WRITE_CMD(ibv_create_qp, ib_uverbs_create_qp);
IBVERBS_WRITE_CMD_EX(ibv_create_qp_ex, ib_uverbs_ex_create_qp);
IBVERBS_WRITE_CMD(ibv_query_qp, ib_uverbs_query_qp);
IBVERBS_WRITE_CMD(ibv_modify_qp, ib_uverbs_modify_qp);
IBVERBS_WRITE_CMD(ibv_post_send, ib_uverbs_post_send);

/*
 * Sizes libibverbs 44 was compiled with (it computes the start of the
 * provider's part from them). Catches a uapi header that drifted.
 */
_Static_assert(sizeof(struct ibv_get_context) == 16, "get_context size");
_Static_assert(sizeof(struct ibv_query_port) == 24, "query_port size");
_Static_assert(sizeof(struct ibv_alloc_pd) == 16, "alloc_pd size");
_Static_assert(sizeof(struct ibv_reg_mr) == 48, "reg_mr size");
_Static_assert(sizeof(struct ibv_rereg_mr) == 56, "rereg_mr size");
_Static_assert(sizeof(struct ibv_alloc_mw) == 24, "alloc_mw size");
_Static_assert(sizeof(struct ibv_create_cq) == 40, "create_cq size");
_Static_assert(sizeof(struct ibv_create_cq_ex) == 56, "create_cq_ex size");
_Static_assert(sizeof(struct ibv_resize_cq) == 24, "resize_cq size");
_Static_assert(sizeof(struct ibv_create_srq) == 40, "create_srq size");
_Static_assert(sizeof(struct ibv_create_xsrq) == 56, "create_xsrq size");
_Static_assert(sizeof(struct ibv_modify_srq) == 24, "modify_srq size");
_Static_assert(sizeof(struct ibv_query_srq) == 24, "query_srq size");
_Static_assert(sizeof(struct ibv_create_qp) == 64, "create_qp size");
_Static_assert(sizeof(struct ibv_create_qp_ex) == 88, "create_qp_ex size");
_Static_assert(sizeof(struct ibv_query_qp) == 24, "query_qp size");
_Static_assert(sizeof(struct ibv_modify_qp) == 120, "modify_qp size");
_Static_assert(sizeof(struct ibv_post_send) == 32, "post_send size");

/*
 * A core request or response with the provider's part right behind it.
 * The uapi core structs end in flexible arrays (driver_data[]), which C
 * does not allow in the middle of a struct, so the core is an aligned byte
 * block; pass it to the ibv_cmd_* helper through a cast to the core type.
 */
#define IBVERBS_CORE_AND_DRV(name, core_type, drv_type)                       \
	struct name {                                                         \
		uint8_t core[sizeof(core_type)] __attribute__((aligned(8)));  \
		drv_type drv;                                                 \
	};                                                                    \
	_Static_assert(offsetof(struct name, drv) == sizeof(core_type),       \
		       #name ": the provider part must follow the core")

/* ------------------------------------------------------------------------
 * Functions (all exported as <name>@IBVERBS_PRIVATE_<n>)
 */

void *_verbs_init_and_alloc_context(struct ibv_device *device, int cmd_fd,
				    size_t alloc_size,
				    struct verbs_context *context_offset,
				    uint32_t driver_id);
void verbs_uninit_context(struct verbs_context *context);
void verbs_set_ops(struct verbs_context *vctx,
		   const struct verbs_context_ops *ops);

int ibv_cmd_get_context(struct verbs_context *context,
			struct ibv_get_context *cmd, size_t cmd_size,
			struct ib_uverbs_get_context_resp *resp,
			size_t resp_size);
int ibv_cmd_query_device_any(struct ibv_context *context,
			     const struct ibv_query_device_ex_input *input,
			     struct ibv_device_attr_ex *attr, size_t attr_size,
			     struct ib_uverbs_ex_query_device_resp *resp,
			     size_t *resp_size);
int ibv_cmd_query_port(struct ibv_context *context, uint8_t port_num,
		       struct ibv_port_attr *port_attr,
		       struct ibv_query_port *cmd, size_t cmd_size);

int ibv_cmd_alloc_pd(struct ibv_context *context, struct ibv_pd *pd,
		     struct ibv_alloc_pd *cmd, size_t cmd_size,
		     struct ib_uverbs_alloc_pd_resp *resp, size_t resp_size);
int ibv_cmd_dealloc_pd(struct ibv_pd *pd);

int ibv_cmd_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
		   uint64_t hca_va, int access, struct verbs_mr *vmr,
		   struct ibv_reg_mr *cmd, size_t cmd_size,
		   struct ib_uverbs_reg_mr_resp *resp, size_t resp_size);
int ibv_cmd_rereg_mr(struct verbs_mr *vmr, uint32_t flags, void *addr,
		     size_t length, uint64_t hca_va, int access,
		     struct ibv_pd *pd, struct ibv_rereg_mr *cmd,
		     size_t cmd_sz, struct ib_uverbs_rereg_mr_resp *resp,
		     size_t resp_sz);
int ibv_cmd_dereg_mr(struct verbs_mr *vmr);
int ibv_cmd_advise_mr(struct ibv_pd *pd, enum ibv_advise_mr_advice advice,
		      uint32_t flags, struct ibv_sge *sg_list,
		      uint32_t num_sge);

int ibv_cmd_alloc_mw(struct ibv_pd *pd, enum ibv_mw_type type,
		     struct ibv_mw *mw, struct ibv_alloc_mw *cmd,
		     size_t cmd_size, struct ib_uverbs_alloc_mw_resp *resp,
		     size_t resp_size);
int ibv_cmd_dealloc_mw(struct ibv_mw *mw);

int ibv_cmd_create_cq(struct ibv_context *context, int cqe,
		      struct ibv_comp_channel *channel, int comp_vector,
		      struct ibv_cq *cq, struct ibv_create_cq *cmd,
		      size_t cmd_size, struct ib_uverbs_create_cq_resp *resp,
		      size_t resp_size);
int ibv_cmd_create_cq_ex(struct ibv_context *context,
			 const struct ibv_cq_init_attr_ex *cq_attr,
			 struct verbs_cq *cq, struct ibv_create_cq_ex *cmd,
			 size_t cmd_size,
			 struct ib_uverbs_ex_create_cq_resp *resp,
			 size_t resp_size, uint32_t cmd_flags);
int ibv_cmd_req_notify_cq(struct ibv_cq *cq, int solicited_only);
int ibv_cmd_resize_cq(struct ibv_cq *cq, int cqe, struct ibv_resize_cq *cmd,
		      size_t cmd_size, struct ib_uverbs_resize_cq_resp *resp,
		      size_t resp_size);
int ibv_cmd_destroy_cq(struct ibv_cq *cq);

int ibv_cmd_create_srq(struct ibv_pd *pd, struct ibv_srq *srq,
		       struct ibv_srq_init_attr *attr,
		       struct ibv_create_srq *cmd, size_t cmd_size,
		       struct ib_uverbs_create_srq_resp *resp,
		       size_t resp_size);
int ibv_cmd_create_srq_ex(struct ibv_context *context, struct verbs_srq *srq,
			  struct ibv_srq_init_attr_ex *attr_ex,
			  struct ibv_create_xsrq *cmd, size_t cmd_size,
			  struct ib_uverbs_create_srq_resp *resp,
			  size_t resp_size);
int ibv_cmd_modify_srq(struct ibv_srq *srq, struct ibv_srq_attr *srq_attr,
		       int srq_attr_mask, struct ibv_modify_srq *cmd,
		       size_t cmd_size);
int ibv_cmd_query_srq(struct ibv_srq *srq, struct ibv_srq_attr *srq_attr,
		      struct ibv_query_srq *cmd, size_t cmd_size);
int ibv_cmd_destroy_srq(struct ibv_srq *srq);

int ibv_cmd_create_qp(struct ibv_pd *pd, struct ibv_qp *qp,
		      struct ibv_qp_init_attr *attr,
		      struct ibv_create_qp *cmd, size_t cmd_size,
		      struct ib_uverbs_create_qp_resp *resp, size_t resp_size);
int ibv_cmd_create_qp_ex2(struct ibv_context *context, struct verbs_qp *qp,
			  struct ibv_qp_init_attr_ex *qp_attr,
			  struct ibv_create_qp_ex *cmd, size_t cmd_size,
			  struct ib_uverbs_ex_create_qp_resp *resp,
			  size_t resp_size);
int ibv_cmd_query_qp(struct ibv_qp *qp, struct ibv_qp_attr *qp_attr,
		     int attr_mask, struct ibv_qp_init_attr *qp_init_attr,
		     struct ibv_query_qp *cmd, size_t cmd_size);
int ibv_cmd_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr,
		      int attr_mask, struct ibv_modify_qp *cmd,
		      size_t cmd_size);
int ibv_cmd_destroy_qp(struct ibv_qp *qp);

int ibv_cmd_create_ah(struct ibv_pd *pd, struct ibv_ah *ah,
		      struct ibv_ah_attr *attr,
		      struct ib_uverbs_create_ah_resp *resp, size_t resp_size);
int ibv_cmd_destroy_ah(struct ibv_ah *ah);
int ibv_cmd_attach_mcast(struct ibv_qp *qp, const union ibv_gid *gid,
			 uint16_t lid);
int ibv_cmd_detach_mcast(struct ibv_qp *qp, const union ibv_gid *gid,
			 uint16_t lid);

#endif /* SOFTRXE_IBVERBS_PRIVATE_H */
