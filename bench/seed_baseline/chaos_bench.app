%% chaos_bench: the application that owns the scale benchmark's idle
%% processes (chaos_bench_pool:populate/1), so chaos can be aimed at them
%% (--only-app chaos_bench) without touching the demo system beside them.
{application, chaos_bench,
 [{description, "Owner of the scale benchmark's processes"},
  {vsn, "1.0.0"},
  {modules, [chaos_bench_app, chaos_bench_sup, chaos_bench_pool, chaos_bench_services,
             chaos_bench_kv, chaos_bench_echo, chaos_bench_conn, chaos_bench_client, chaos_seed_baseline]},
  {registered, [chaos_bench_sup, chaos_bench_pool, chaos_bench_services, chaos_bench_conns,
                chaos_bench_echo, bench_kv_1, bench_kv_2, bench_kv_3, bench_kv_4]},
  {applications, [kernel, stdlib]},
  {mod, {chaos_bench_app, []}}]}.
