add_dependencies(${exe} gate_skel_gen origins_skel_gen)
