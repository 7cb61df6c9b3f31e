// Package abi is the kernel program's ABI as Go sees it: the bpf2go
// types of every struct, enum and map the program shares with userspace,
// the embedded object, and the pure readers over them (C strings,
// addresses, flow and alert ids, counters, ring record views, rules).
// loader, ringbuf, flowtable, blocklistmaps and pipeline import it; it
// imports none of them.
package abi

// BPF2GO_CC and BPF2GO_CFLAGS come from the Makefile (`make generate`), which
// knows the Debian multiarch include directory.
//go:generate go tool bpf2go -target bpfel -output-stem xdpsensor -type flow_key -type flow_value -type flow_dir -type flow_key_v4 -type flow_key_v6 -type flow_extra -type flow_extra_dir -type flow_extra_key -type zone_key -type flow_state_bits -type alert_mode -type packet_fields -type alert_event -type flow_event -type blocklist_entry -type prefix_entry -type prefix_walk -type ipv4_addr -type lpm_v4_key -type lpm_v6_key -type rule -type slot_counts -type sensor_config -type sensor_stats -type daemon_stats -type event_type -type flow_end_reason -type flow_side -type addr_family -type listed_bits -type rule_direction -type rule_other_net -type netvar_bits -type external_mode -type tcp_flag_bits -type threshold_type -type threshold_track -type threshold_key -type threshold_state -type capture_record -type capture_mode -type history_letter -type tunnel_kind -type alert_layer -type packet_tunnel Bpf ../../bpf/xdpsensor.c -- -I../../bpf
//go:generate go tool bpf2go -target bpfel -output-stem replay_feed -type feed_slot -type feed_state Feed ../../bpf/replay_feed.c -- -I../../bpf
